// zdtm: pass
// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): after the restart every earlier mapping is
// still locked on fault (VmFlags "lo lf"), and so is a new one, which is not faulted in.
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char* before = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(before != MAP_FAILED, "mmap");
  before[0] = 'b';
  zdtm_require(mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0, "mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(before, "lo", 1, "a mapping made before mlockall");
  expect_vmflag(before, "lf", 1, "a mapping made before mlockall");
  char* after = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (after == MAP_FAILED) zdtm_fail("mmap after the restart: %s", strerrorname_np(errno));
  expect_vmflag(after, "lo", 1, "a mapping made after the restart");
  expect_vmflag(after, "lf", 1, "a mapping made after the restart");
  unsigned char resident = 1;
  if (mincore(after, 4096, &resident) != 0 || (resident & 1)) zdtm_fail("a new mapping locked on fault was faulted in (mincore %d)", resident);
  if (before[0] != 'b') zdtm_fail("the earlier mapping's byte changed: %d", before[0]);
  zdtm_pass();
}

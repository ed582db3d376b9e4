// zdtm: pass
// mlockall(MCL_FUTURE): not shown anywhere in /proc, and it was lost at restart. After the
// restart a new mapping is still locked (VmFlags "lo", faulted in at once) and the mappings
// from before are not (MCL_CURRENT was not asked for).
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char* before = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(before != MAP_FAILED, "mmap");
  before[0] = 'b';
  zdtm_require(mlockall(MCL_FUTURE) == 0, "mlockall(MCL_FUTURE)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(before, "lo", 0, "a mapping made before mlockall(MCL_FUTURE)");
  char* after = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (after == MAP_FAILED) zdtm_fail("mmap after the restart: %s", strerrorname_np(errno));
  expect_vmflag(after, "lo", 1, "a mapping made after the restart");
  expect_vmflag(after, "lf", 0, "a mapping made after the restart");
  unsigned char resident = 0;
  if (mincore(after, 4096, &resident) != 0 || !(resident & 1)) zdtm_fail("a new mapping was not faulted in at once (mincore %d)", resident);
  if (before[0] != 'b') zdtm_fail("the earlier mapping's byte changed: %d", before[0]);
  zdtm_pass();
}

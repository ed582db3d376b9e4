// zdtm: pass
// mlock2(MLOCK_ONFAULT) (smaps VmFlags "lo lf"): after the restart the mapping is still locked
// on fault, and kept its bytes.
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  p[0] = 'o';
  zdtm_require(mlock2(p, 4 * page, MLOCK_ONFAULT) == 0, "mlock2(MLOCK_ONFAULT)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p, "lo", 1, "the mapping locked on fault");
  expect_vmflag(p, "lf", 1, "the mapping locked on fault");
  if (p[0] != 'o' || p[page] != 0) zdtm_fail("the mapping's bytes changed: %d %d", p[0], p[page]);
  zdtm_pass();
}

// zdtm: pass
// mseal (Linux 6.10) on a mapping (smaps VmFlags "sl"): after the restart it is still sealed
// (mprotect and munmap fail with EPERM) and kept its bytes.
#include "vmflags.h"

#include <sys/syscall.h>

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 's', 3 * page);
  zdtm_require(syscall(SYS_mseal, p, 3 * page, 0) == 0, "mseal");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p, "sl", 1, "the sealed mapping");
  if (mprotect(p, page, PROT_READ) == 0 || errno != EPERM) zdtm_fail("mprotect of the sealed mapping: %s", strerrorname_np(errno));
  if (munmap(p, page) == 0 || errno != EPERM) zdtm_fail("munmap of the sealed mapping: %s", strerrorname_np(errno));
  for (size_t i = 0; i < 3 * page; i++) {
    if (p[i] != 's') zdtm_fail("byte %zu of the mapping is %d, not 's'", i, p[i]);
  }
  zdtm_pass();
}

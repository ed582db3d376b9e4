// zdtm: pass
// A guard region (MADV_GUARD_INSTALL, Linux 6.13) in the middle of a mapping: guard pages are
// PTE markers, not pages, and a restart once gave back an ordinary writable page there. After the
// restart reading or writing the guard page still faults, and the pages around it kept their bytes.
#include "vmflags.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'g', 5 * page);
  zdtm_require(madvise(p + 2 * page, page, MADV_GUARD_INSTALL) == 0, "madvise(MADV_GUARD_INSTALL)");
  zdtm_require(faults(p + 2 * page, 1), "the guard page faults before the checkpoint");
  // A second mapping, guarded at both ends.
  char* q = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(q != MAP_FAILED, "mmap");
  memset(q, 'q', 4 * page);
  zdtm_require(madvise(q, page, MADV_GUARD_INSTALL) == 0 && madvise(q + 3 * page, page, MADV_GUARD_INSTALL) == 0, "madvise(MADV_GUARD_INSTALL) at both ends");
  zdtm_ready();
  zdtm_wait();
  if (!faults(p + 2 * page, 1)) zdtm_fail("a write to the guard page did not fault");
  if (!faults(p + 2 * page + 100, 0)) zdtm_fail("a read of the guard page did not fault");
  if (!faults(q, 1) || !faults(q + 3 * page + 4095, 1)) zdtm_fail("a write to a guard page at an end of the second mapping did not fault");
  if (q[page] != 'q' || q[3 * page - 1] != 'q') zdtm_fail("the second mapping's middle lost its bytes");
  for (size_t i = 0; i < 5 * page; i++) {
    if (i >= 2 * page && i < 3 * page) continue;
    if (p[i] != 'g') zdtm_fail("byte %zu next to the guard page is %d, not 'g'", i, p[i]);
  }
  zdtm_pass();
}

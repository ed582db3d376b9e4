// zdtm: pass
// MADV_HUGEPAGE (smaps VmFlags "hg") on part of a mapping: after the restart exactly that part has it.
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 6 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'a', 6 * page);
  zdtm_require(madvise(p + 2 * page, 2 * page, MADV_HUGEPAGE) == 0, "madvise(MADV_HUGEPAGE)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p + 2 * page, "hg", 1, "the MADV_HUGEPAGE part");
  expect_vmflag(p + 3 * page, "hg", 1, "the MADV_HUGEPAGE part");
  expect_vmflag(p, "hg", 0, "the part before it");
  expect_vmflag(p + 4 * page, "hg", 0, "the part after it");
  for (size_t i = 0; i < 6 * page; i++) {
    if (p[i] != 'a') zdtm_fail("byte %zu of the mapping is %d, not 'a'", i, p[i]);
  }
  zdtm_pass();
}

// zdtm: pass
// MADV_DONTDUMP (smaps VmFlags "dd") on part of a mapping: after the restart exactly that part has
// it, and its bytes are still there (a core dump leaves them out, a checkpoint must not: the restart
// gave back zeros, which breaks e.g. OpenSSL's secure heap).
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 6 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'a', 6 * page);
  zdtm_require(madvise(p + 2 * page, 2 * page, MADV_DONTDUMP) == 0, "madvise(MADV_DONTDUMP)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p + 2 * page, "dd", 1, "the MADV_DONTDUMP part");
  expect_vmflag(p + 3 * page, "dd", 1, "the MADV_DONTDUMP part");
  expect_vmflag(p, "dd", 0, "the part before it");
  expect_vmflag(p + 4 * page, "dd", 0, "the part after it");
  for (size_t i = 0; i < 6 * page; i++) {
    if (p[i] != 'a') zdtm_fail("byte %zu of the mapping is %d, not 'a'", i, p[i]);
  }
  zdtm_pass();
}

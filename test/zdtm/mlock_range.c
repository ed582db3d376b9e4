// zdtm: pass
// mlock on part of a mapping (smaps VmFlags "lo"): after the restart exactly those pages are
// locked (VmLck in /proc/self/status) and kept their bytes.
#include "vmflags.h"

static long vm_locked_kb(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) zdtm_fail("open /proc/self/status: %s", strerrorname_np(errno));
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "VmLck: %ld kB", &kb) == 1) break;
  }
  fclose(f);
  return kb;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  char* p = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'l', 8 * page);
  zdtm_require(mlock(p + 2 * page, 3 * page) == 0, "mlock");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p + 2 * page, "lo", 1, "the locked part");
  expect_vmflag(p + 4 * page, "lo", 1, "the locked part");
  expect_vmflag(p, "lo", 0, "the part before it");
  expect_vmflag(p + 5 * page, "lo", 0, "the part after it");
  expect_vmflag(p + 2 * page, "lf", 0, "the locked part (not on fault)");
  long kb = vm_locked_kb();
  if (kb != 12) zdtm_fail("VmLck is %ld kB, not 12", kb);
  for (size_t i = 0; i < 8 * page; i++) {
    if (p[i] != 'l') zdtm_fail("byte %zu of the mapping is %d, not 'l'", i, p[i]);
  }
  zdtm_pass();
}

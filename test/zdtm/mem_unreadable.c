// zdtm: pass
// Present pages the program itself cannot read: PROT_NONE, write-only and exec-only. A snapshot
// failed on them with "process_vm_readv ... Bad address (EFAULT)". After the restart each keeps
// its protection and its bytes.
#include "vmflags.h"

static const struct {
  int prot;
  const char* perms;
} kinds[] = {{PROT_NONE, "---p"}, {PROT_WRITE, "-w-p"}, {PROT_EXEC, "--xp"}};
enum { KINDS = sizeof kinds / sizeof kinds[0] };

/** The permissions /proc/self/maps shows for the mapping holding `addr`. */
static void perms_of(const void* addr, char out[5]) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) zdtm_fail("open /proc/self/maps: %s", strerrorname_np(errno));
  unsigned long start, end;
  char perms[5] = "";
  strcpy(out, "none");
  while (fscanf(f, "%lx-%lx %4s%*[^\n]\n", &start, &end, perms) == 3) {
    if ((uintptr_t)addr >= start && (uintptr_t)addr < end) {
      strcpy(out, perms);
      break;
    }
  }
  fclose(f);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  // Readable pages between them keep the kernel from merging the three mappings.
  char* p = mmap(NULL, 2 * KINDS * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  for (int k = 0; k < KINDS; k++) memset(p + 2 * k * page, 'A' + k, 2 * page);
  for (int k = 0; k < KINDS; k++) zdtm_require(mprotect(p + 2 * k * page, page, kinds[k].prot) == 0, "mprotect");
  zdtm_ready();
  zdtm_wait();
  for (int k = 0; k < KINDS; k++) {
    char* at = p + 2 * k * page;
    char perms[5];
    perms_of(at, perms);
    if (strcmp(perms, kinds[k].perms) != 0) zdtm_fail("the %s page is %s after the restart", kinds[k].perms, perms);
    if (!faults(at, 0) == (kinds[k].prot == PROT_NONE)) zdtm_fail("reading the %s page: fault %d", kinds[k].perms, faults(at, 0));
    if (mprotect(at, page, PROT_READ) != 0) zdtm_fail("mprotect: %s", strerrorname_np(errno));
    for (size_t i = 0; i < 2 * page; i++) {
      if (at[i] != 'A' + k) zdtm_fail("byte %zu of the %s run is %d, not %d", i, kinds[k].perms, at[i], 'A' + k);
    }
  }
  zdtm_pass();
}

// zdtm: pass
// MAP_DROPPABLE (Linux 6.11: memory the kernel may drop under pressure; smaps VmFlags "dp", with
// "wf dd") and MAP_NORESERVE ("nr"): after the restart both mappings are still of their kind, and
// the MAP_NORESERVE one kept its bytes.
#include "vmflags.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t size = 2 * 4096;
  char* drop = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(drop != MAP_FAILED, "mmap(MAP_DROPPABLE)");
  char* noreserve = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  zdtm_require(noreserve != MAP_FAILED, "mmap(MAP_NORESERVE)");
  memset(drop, 'd', size);
  memset(noreserve, 'n', size);
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(drop, "dp", 1, "the MAP_DROPPABLE mapping");
  expect_vmflag(noreserve, "nr", 1, "the MAP_NORESERVE mapping");
  expect_vmflag(noreserve, "ac", 0, "the MAP_NORESERVE mapping");
  expect_vmflag(noreserve, "dp", 0, "the MAP_NORESERVE mapping");
  for (size_t i = 0; i < size; i++) {
    if (noreserve[i] != 'n') zdtm_fail("byte %zu of the MAP_NORESERVE mapping is %d, not 'n'", i, noreserve[i]);
  }
  zdtm_pass();
}

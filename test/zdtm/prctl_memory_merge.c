// zdtm: pass
// prctl(PR_SET_MEMORY_MERGE) (Linux 6.4): KSM may merge every mapping of the process. After the
// restart PR_GET_MEMORY_MERGE still says 1 and a new mapping is mergeable (VmFlags "mg").
#include "vmflags.h"

#include <sys/prctl.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0, "prctl(PR_SET_MEMORY_MERGE)");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
  if (got != 1) zdtm_fail("PR_GET_MEMORY_MERGE is %d, not 1", got);
  char* after = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (after == MAP_FAILED) zdtm_fail("mmap after the restart: %s", strerrorname_np(errno));
  expect_vmflag(after, "mg", 1, "a mapping made after the restart");
  zdtm_pass();
}

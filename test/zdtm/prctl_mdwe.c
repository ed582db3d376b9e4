// zdtm: pass
// prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) (memory-deny-write-execute, Linux 6.3): after the
// restart PR_GET_MDWE still says so, and making a writable mapping executable is refused.
#include "vmflags.h"

#include <sys/prctl.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0, "prctl(PR_SET_MDWE)");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_MDWE, 0, 0, 0, 0);
  if (got != PR_MDWE_REFUSE_EXEC_GAIN) zdtm_fail("PR_GET_MDWE is %d, not %d", got, PR_MDWE_REFUSE_EXEC_GAIN);
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) zdtm_fail("mmap after the restart: %s", strerrorname_np(errno));
  if (mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0) zdtm_fail("a writable mapping became executable under MDWE");
  zdtm_pass();
}

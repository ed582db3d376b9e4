// zdtm: pass
// prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED) (Linux 6.18): THP only where
// MADV_HUGEPAGE asks for it. After the restart PR_GET_THP_DISABLE still says 1 | that bit.
#include "zdtm.h"

#include <sys/prctl.h>

#ifndef PR_THP_DISABLE_EXCEPT_ADVISED
#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0) == 0, "prctl(PR_SET_THP_DISABLE, EXCEPT_ADVISED)");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
  if (got != (1 | PR_THP_DISABLE_EXCEPT_ADVISED)) zdtm_fail("PR_GET_THP_DISABLE is %d, not 3", got);
  zdtm_pass();
}

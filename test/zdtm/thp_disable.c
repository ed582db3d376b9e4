// zdtm: pass
// prctl(PR_SET_THP_DISABLE): after the restart PR_GET_THP_DISABLE still says 1.
#include "zdtm.h"

#include <sys/prctl.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "prctl(PR_SET_THP_DISABLE)");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
  if (got != 1) zdtm_fail("PR_GET_THP_DISABLE is %d, not 1", got);
  zdtm_pass();
}

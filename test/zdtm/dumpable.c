// zdtm: pass
// PR_SET_DUMPABLE 0 (no core dumps, /proc/PID owned by root): still 0 after the restart.
#include "zdtm.h"
#include <sys/prctl.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "PR_SET_DUMPABLE");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (got != 0) zdtm_fail("PR_GET_DUMPABLE is %d, expected 0", got);
  zdtm_pass();
}

// zdtm: pass
// PR_SET_CHILD_SUBREAPER: still a subreaper after the restart (orphaned descendants come to it).
#include "zdtm.h"
#include <sys/prctl.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER");
  zdtm_ready();
  zdtm_wait();
  int got = -1;
  if (prctl(PR_GET_CHILD_SUBREAPER, &got, 0, 0, 0) != 0) zdtm_fail("PR_GET_CHILD_SUBREAPER: %s", strerrorname_np(errno));
  if (got != 1) zdtm_fail("child subreaper is %d, expected 1", got);
  zdtm_pass();
}

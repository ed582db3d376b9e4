// zdtm: pass
// no_new_privs set: still set after the restart (execve could otherwise gain privileges again).
#include "zdtm.h"
#include <sys/prctl.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (got != 1) zdtm_fail("PR_GET_NO_NEW_PRIVS is %d, expected 1", got);
  zdtm_pass();
}

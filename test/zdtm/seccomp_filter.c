// zdtm: refused seccomp
// A seccomp filter (allowing everything): cr does not save filters, so check names it and
// snapshot refuses rather than restart the process without it.
#include "zdtm.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {.len = 1, .filter = allow};
  zdtm_require(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
  zdtm_require(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, "PR_SET_SECCOMP");
  zdtm_ready();
  zdtm_wait();
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER) zdtm_fail("the seccomp filter is gone");
  zdtm_pass();
}

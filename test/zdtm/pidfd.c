// zdtm: pass
// pidfds (they were refused): the parent holds a pidfd of its child (dup'd) and a non-blocking one
// of itself, which the child inherits before it forks; the first one of the child is not
// close-on-exec (pidfd_open makes it so). After the restart each refers to the same
// process: the child finds its inherited pidfd names its parent, the parent signals the child
// through its pidfd and waits for it there (waitid P_PIDFD), and its own pidfd is not readable
// (it has not exited).
#include "zdtm.h"

#include <poll.h>
#include <sys/syscall.h>

static int pidfd_open(pid_t pid, unsigned flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int self = pidfd_open(getpid(), O_NONBLOCK);
  int go[2];
  zdtm_require(self >= 0 && pipe(go) == 0, "pidfd_open self, pipe");
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    _exit(atoi(zdtm_fdinfo(self, "Pid:")) == getppid() ? 0 : 1);
  }
  int of = pidfd_open(child, 0);
  zdtm_require(of >= 0 && fcntl(of, F_SETFD, 0) == 0, "pidfd_open child, then not close-on-exec");
  int dup = fcntl(of, F_DUPFD_CLOEXEC, 30);
  zdtm_require(dup >= 0, "dup");
  zdtm_ready();
  zdtm_wait();
  if (atoi(zdtm_fdinfo(of, "Pid:")) != child || atoi(zdtm_fdinfo(dup, "Pid:")) != child) zdtm_fail("the pidfds of the child refer to %s", zdtm_fdinfo(of, "Pid:"));
  if (atoi(zdtm_fdinfo(self, "Pid:")) != getpid()) zdtm_fail("the pidfd of the process refers to %s", zdtm_fdinfo(self, "Pid:"));
  if (!(fcntl(self, F_GETFL) & O_NONBLOCK) || (fcntl(of, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if ((fcntl(of, F_GETFD) & FD_CLOEXEC) || !(fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  struct pollfd p = {.fd = self, .events = POLLIN};
  if (poll(&p, 1, 0) != 0) zdtm_fail("the pidfd of the running process is readable");
  if (write(go[1], "g", 1) != 1) zdtm_fail("cannot wake the child");
  siginfo_t info = {0};
  if (waitid(P_PIDFD, dup, &info, WEXITED) != 0) zdtm_fail("waitid through the pidfd: %s", strerrorname_np(errno));
  if (info.si_pid != child || info.si_code != CLD_EXITED || info.si_status != 0) zdtm_fail("the child ended with code %d status %d", info.si_code, info.si_status);
  if (syscall(SYS_pidfd_send_signal, of, 0, NULL, 0) != -1 || errno != ESRCH) zdtm_fail("the pidfd of the reaped child still signals");
  zdtm_pass();
}

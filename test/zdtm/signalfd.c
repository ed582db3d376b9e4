// zdtm: pass
// signalfds (they were refused): one for SIGUSR1 and SIGRTMIN+2, non-blocking, dup'd; another,
// blocking, for SIGUSR2 alone. The signals are blocked, and before the checkpoint the process
// sends itself SIGUSR1 and SIGRTMIN+2 (twice, with values) and SIGUSR2. After the restart the
// masks and flags are as they were, the pending signals are read through the signalfds (the
// real-time ones in order, with their values), and a signal sent now is read too.
#include "zdtm.h"

#include <sys/signalfd.h>

/** The mask fdinfo shows for `fd`. */
static unsigned long long shown(int fd) { return strtoull(zdtm_fdinfo(fd, "sigmask:"), NULL, 16); }

static unsigned long long bit(int sig) { return 1ULL << (sig - 1); }

/** Reads one signal through `fd` and checks its number (and value, for a queued one). */
static void next(int fd, int sig, int value) {
  struct signalfd_siginfo info;
  ssize_t got = read(fd, &info, sizeof info);
  if (got != sizeof info) zdtm_fail("reading signal %d through fd %d: %s", sig, fd, got < 0 ? strerrorname_np(errno) : "short read");
  if ((int)info.ssi_signo != sig) zdtm_fail("fd %d read signal %u, not %d", fd, info.ssi_signo, sig);
  if (value >= 0 && info.ssi_int != value) zdtm_fail("signal %d carried %d, not %d", sig, info.ssi_int, value);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int rt = SIGRTMIN + 2;
  sigset_t both, usr2;
  sigemptyset(&both);
  sigaddset(&both, SIGUSR1);
  sigaddset(&both, rt);
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  zdtm_require(sigprocmask(SIG_BLOCK, &both, NULL) == 0 && sigprocmask(SIG_BLOCK, &usr2, NULL) == 0, "sigprocmask");
  int first = signalfd(-1, &both, SFD_NONBLOCK | SFD_CLOEXEC);
  int dup = fcntl(first, F_DUPFD, 50);
  int second = signalfd(-1, &usr2, 0);
  zdtm_require(first >= 0 && dup >= 0 && second >= 0, "signalfd");
  zdtm_require(raise(SIGUSR1) == 0 && raise(SIGUSR2) == 0, "raise");
  zdtm_require(sigqueue(getpid(), rt, (union sigval){.sival_int = 41}) == 0 && sigqueue(getpid(), rt, (union sigval){.sival_int = 42}) == 0, "sigqueue");
  zdtm_ready();
  zdtm_wait();

  if (shown(first) != (bit(SIGUSR1) | bit(rt)) || shown(second) != bit(SIGUSR2)) zdtm_fail("the masks are %llx and %llx", shown(first), shown(second));
  if (!(fcntl(first, F_GETFL) & O_NONBLOCK) || (fcntl(second, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if (!(fcntl(first, F_GETFD) & FD_CLOEXEC) || (fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  next(dup, SIGUSR1, -1);
  next(first, rt, 41);
  next(dup, rt, 42);
  next(second, SIGUSR2, -1);
  struct signalfd_siginfo info;
  if (read(first, &info, sizeof info) >= 0 || errno != EAGAIN) zdtm_fail("a signal more than was sent: %u", info.ssi_signo);
  if (kill(getpid(), SIGUSR2) != 0) zdtm_fail("kill: %s", strerrorname_np(errno));
  next(second, SIGUSR2, -1);
  zdtm_pass();
}

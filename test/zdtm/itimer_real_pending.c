// zdtm: pass
// An ITIMER_REAL (20 ms) that fired while SIGALRM was blocked: the kernel re-arms it only when
// the SIGALRM is taken, so until then it shows no time left and its interval. After the restart
// the SIGALRM is still pending, the timer still waits, and once SIGALRM is unblocked it fires
// again and again (a restart that disarms it, or drops the interval, leaves it stuck).
#include "zdtm.h"
#include <sys/time.h>

#define PERIOD_US 20000

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  zdtm_require(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alrm, NULL);
  struct itimerval it = {.it_interval = {0, PERIOD_US}, .it_value = {0, PERIOD_US}};
  zdtm_require(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
  usleep(3 * PERIOD_US);
  zdtm_ready();
  zdtm_wait();
  sigset_t pending;
  sigpending(&pending);
  if (!sigismember(&pending, SIGALRM)) zdtm_fail("SIGALRM is no longer pending");
  if (getitimer(ITIMER_REAL, &it) != 0) zdtm_fail("getitimer: %s", strerrorname_np(errno));
  if (it.it_interval.tv_sec != 0 || it.it_interval.tv_usec != PERIOD_US) zdtm_fail("interval %ld.%06ld, expected 0.020000", it.it_interval.tv_sec, it.it_interval.tv_usec);
  if (it.it_value.tv_sec != 0 || it.it_value.tv_usec != 0) zdtm_fail("time left %ld.%06ld while its SIGALRM waits, expected none", it.it_value.tv_sec, it.it_value.tv_usec);
  sigprocmask(SIG_UNBLOCK, &alrm, NULL);
  for (int i = 0; i < 200 && alarms < 4; i++) usleep(10000);
  if (alarms < 4) zdtm_fail("SIGALRM came %d times in 2 s after it was unblocked", alarms);
  zdtm_pass();
}

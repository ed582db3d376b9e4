// zdtm: pass
// A periodic ITIMER_REAL (30 ms): after the restart getitimer gives the same interval and a time
// left within it, and SIGALRM keeps coming (a timer restored as "armed, no time left" never fires).
#include "zdtm.h"
#include <sys/time.h>

#define PERIOD_US 30000

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
  struct itimerval it = {.it_interval = {0, PERIOD_US}, .it_value = {0, PERIOD_US}};
  zdtm_require(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
  zdtm_ready();
  zdtm_wait();
  if (getitimer(ITIMER_REAL, &it) != 0) zdtm_fail("getitimer: %s", strerrorname_np(errno));
  if (it.it_interval.tv_sec != 0 || it.it_interval.tv_usec != PERIOD_US) zdtm_fail("interval %ld.%06ld, expected 0.030000", it.it_interval.tv_sec, it.it_interval.tv_usec);
  if (it.it_value.tv_sec != 0 || it.it_value.tv_usec <= 0 || it.it_value.tv_usec > PERIOD_US) zdtm_fail("time left %ld.%06ld, not within the interval", it.it_value.tv_sec, it.it_value.tv_usec);
  int before = alarms;
  for (int i = 0; i < 200 && alarms < before + 3; i++) usleep(10000);
  if (alarms < before + 3) zdtm_fail("SIGALRM came %d times in 2 s after the restart", alarms - before);
  zdtm_pass();
}

// zdtm: pass
// zdtm: warns POSIX timer \d+ has an overrun count of [1-9]\d*
// A POSIX timer whose signal was taken late, so timer_getoverrun counts the expiries it stood
// for. No call sets that count: every snapshot warns, and after the restart the timer (same ID
// and interval, its signal kept blocked and pending) reads 0 until its signal is taken again,
// which then carries the overruns since the restart, as timer_getoverrun does.
#include "zdtm.h"
#include <sys/syscall.h>
#include <time.h>

#define SIG (SIGRTMIN + 4)
#define PERIOD_NS 1000000L

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  sigset_t sig;
  sigemptyset(&sig);
  sigaddset(&sig, SIG);
  zdtm_require(sigprocmask(SIG_BLOCK, &sig, NULL) == 0, "block the timer's signal");
  struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIG};
  int id = -1;
  zdtm_require(syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
  struct itimerspec its = {.it_interval = {0, PERIOD_NS}, .it_value = {0, PERIOD_NS}};
  zdtm_require(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0, "timer_settime");
  usleep(20000); // ~20 expiries while the first signal waits
  siginfo_t info;
  zdtm_require(sigwaitinfo(&sig, &info) == SIG, "sigwaitinfo");
  int overrun = (int)syscall(SYS_timer_getoverrun, id);
  zdtm_require(overrun > 0 && overrun == info.si_overrun, "timer_getoverrun after a late signal");
  zdtm_ready();
  zdtm_wait();
  overrun = (int)syscall(SYS_timer_getoverrun, id);
  if (overrun != 0) zdtm_fail("timer_getoverrun(%d) is %d after the restart, expected 0 until the next signal", id, overrun);
  if (syscall(SYS_timer_gettime, id, &its) != 0) zdtm_fail("timer_gettime(%d): %s", id, strerrorname_np(errno));
  if (its.it_interval.tv_sec != 0 || its.it_interval.tv_nsec != PERIOD_NS) zdtm_fail("interval %ld.%09ld, expected 0.001000000", its.it_interval.tv_sec, its.it_interval.tv_nsec);
  usleep(5000);
  if (sigwaitinfo(&sig, &info) != SIG) zdtm_fail("sigwaitinfo: %s", strerrorname_np(errno));
  overrun = (int)syscall(SYS_timer_getoverrun, id);
  if (overrun != info.si_overrun) zdtm_fail("timer_getoverrun %d, the signal said %d", overrun, info.si_overrun);
  zdtm_pass();
}

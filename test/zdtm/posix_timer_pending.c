// zdtm: pass
// A periodic POSIX timer (20 ms, a real-time signal) that fired while its signal was blocked:
// the kernel queues its signal once and re-arms the timer only when the signal is taken. After
// the restart exactly one of its signals is pending, with its value; once taken the timer fires
// again (a restart that queues a copy and arms the timer too gives two; one that queues only a
// copy leaves the timer stuck).
#include "zdtm.h"
#include <sys/syscall.h>
#include <time.h>

#define SIG (SIGRTMIN + 4)
#define VALUE 0x7117e5UL
#define PERIOD_NS 20000000L

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIG);
  sigprocmask(SIG_BLOCK, &set, NULL);
  struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIG};
  ev.sigev_value.sival_ptr = (void*)VALUE;
  int id = -1;
  zdtm_require(syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
  struct itimerspec its = {.it_interval = {0, PERIOD_NS}, .it_value = {0, PERIOD_NS}};
  zdtm_require(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0, "timer_settime");
  usleep(3 * PERIOD_NS / 1000);
  zdtm_ready();
  zdtm_wait();
  struct timespec none = {0, 0}, second = {1, 0};
  siginfo_t info;
  if (sigtimedwait(&set, &info, &none) != SIG) zdtm_fail("the timer's signal is not pending: %s", strerrorname_np(errno));
  if (info.si_code != SI_TIMER || (unsigned long)info.si_value.sival_ptr != VALUE || info.si_timerid != id) zdtm_fail("pending signal: code %d value %#lx timer %d, expected SI_TIMER %#lx %d", info.si_code, (unsigned long)info.si_value.sival_ptr, info.si_timerid, VALUE, id);
  // The timer re-arms when its signal is taken: the next one comes within a period, not at once.
  if (sigtimedwait(&set, &info, &none) == SIG) zdtm_fail("a second signal of the timer was pending");
  for (int i = 0; i < 3; i++)
    if (sigtimedwait(&set, &info, &second) != SIG) zdtm_fail("the timer did not fire again (%d): %s", i, strerrorname_np(errno));
  if (syscall(SYS_timer_gettime, id, &its) != 0 || its.it_interval.tv_nsec != PERIOD_NS) zdtm_fail("timer %d lost its interval", id);
  zdtm_pass();
}

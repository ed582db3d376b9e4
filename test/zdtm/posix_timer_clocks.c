// zdtm: pass
// POSIX timers other than a periodic monotonic one: a disarmed timer stays disarmed, a
// CLOCK_REALTIME timer (armed relative, 1000 s) and a CLOCK_PROCESS_CPUTIME_ID one (100 s of
// CPU) keep their clock, interval and a time left within what they were given, and a
// SIGEV_NONE timer stays silent.
#include "zdtm.h"
#include <sys/syscall.h>
#include <time.h>

struct timer {
  int clock, shown; // as given to timer_create; as /proc/PID/timers shows it
  int notify, id;
  long interval, value; // seconds
};

static struct timer timers[] = {
    {CLOCK_MONOTONIC, CLOCK_MONOTONIC, SIGEV_SIGNAL, -1, 0, 0},
    {CLOCK_REALTIME, CLOCK_REALTIME, SIGEV_SIGNAL, -1, 1000, 1000},
    {CLOCK_PROCESS_CPUTIME_ID, -6 /* the CPU clock of pid 0, the caller */, SIGEV_SIGNAL, -1, 50, 100},
    {CLOCK_BOOTTIME, CLOCK_BOOTTIME, SIGEV_NONE, -1, 0, 500},
};
#define COUNT (sizeof timers / sizeof timers[0])

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  for (unsigned i = 0; i < COUNT; i++) {
    struct sigevent ev = {.sigev_notify = timers[i].notify, .sigev_signo = SIGUSR1};
    ev.sigev_value.sival_int = (int)i;
    zdtm_require(syscall(SYS_timer_create, timers[i].clock, &ev, &timers[i].id) == 0, "timer_create");
    struct itimerspec its = {.it_interval = {timers[i].interval, 0}, .it_value = {timers[i].value, 0}};
    zdtm_require(syscall(SYS_timer_settime, timers[i].id, 0, &its, NULL) == 0, "timer_settime");
  }
  zdtm_ready();
  zdtm_wait();
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGUSR1)) zdtm_fail("a timer signal is pending");
  for (unsigned i = 0; i < COUNT; i++) {
    struct itimerspec its;
    if (syscall(SYS_timer_gettime, timers[i].id, &its) != 0) zdtm_fail("timer %d (clock %d): timer_gettime: %s", timers[i].id, timers[i].clock, strerrorname_np(errno));
    if (its.it_interval.tv_sec != timers[i].interval || its.it_interval.tv_nsec != 0) zdtm_fail("timer %d: interval %ld.%09ld, expected %ld", timers[i].id, its.it_interval.tv_sec, its.it_interval.tv_nsec, timers[i].interval);
    long left_ms = its.it_value.tv_sec * 1000 + its.it_value.tv_nsec / 1000000;
    int armed = its.it_value.tv_sec != 0 || its.it_value.tv_nsec != 0;
    if (timers[i].value == 0 && armed) zdtm_fail("timer %d: disarmed before, %ld ms left now", timers[i].id, left_ms);
    if (timers[i].value != 0 && (left_ms > timers[i].value * 1000 || left_ms < timers[i].value * 1000 - 60000)) zdtm_fail("timer %d (clock %d): %ld ms left, given %ld s", timers[i].id, timers[i].clock, left_ms, timers[i].value);
  }
  char text[1024] = "", want[1024] = "";
  FILE* f = fopen("/proc/self/timers", "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = 0;
  for (int i = COUNT - 1; i >= 0; i--) {
    size_t at = strlen(want);
    snprintf(want + at, sizeof want - at, "ID: %d\nsignal: %d/%016x\nnotify: %s/pid.%d\nClockID: %d\n", timers[i].id, SIGUSR1, i, timers[i].notify == SIGEV_NONE ? "none" : "signal", getpid(), timers[i].shown);
  }
  if (strcmp(text, want) != 0) zdtm_fail("/proc/self/timers is \"%s\", expected \"%s\"", text, want);
  zdtm_pass();
}

// zdtm: pass
// A periodic POSIX timer (CLOCK_MONOTONIC, 40 ms, SIGEV_SIGNAL with a value) whose ID is not the
// first one: after the restart it has the same ID, clock, signal and interval, the time left is
// within the interval, and it keeps firing with its signal and value.
#include "zdtm.h"
#include <sys/syscall.h>
#include <time.h>

#define SIG (SIGRTMIN + 3)
#define VALUE 0x5eedf00dcafeUL
#define PERIOD_NS 40000000L

static volatile sig_atomic_t fired;
static volatile unsigned long got_value;
static volatile int got_code;

static void on_timer(int sig, siginfo_t* info, void* ctx) {
  (void)sig, (void)ctx;
  got_value = (unsigned long)info->si_value.sival_ptr;
  got_code = info->si_code;
  fired++;
}

static int create(int clock, struct sigevent* ev) {
  int id = -1;
  zdtm_require(syscall(SYS_timer_create, clock, ev, &id) == 0, "timer_create");
  return id;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct sigaction sa = {.sa_sigaction = on_timer, .sa_flags = SA_SIGINFO | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  zdtm_require(sigaction(SIG, &sa, NULL) == 0, "sigaction");
  struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIG};
  ev.sigev_value.sival_ptr = (void*)VALUE;
  // The timer kept is not the first: a restart that lets the kernel number them gives it ID 0.
  int first = create(CLOCK_MONOTONIC, &ev), second = create(CLOCK_MONOTONIC, &ev);
  int id = create(CLOCK_MONOTONIC, &ev);
  zdtm_require(syscall(SYS_timer_delete, first) == 0 && syscall(SYS_timer_delete, second) == 0, "timer_delete");
  struct itimerspec its = {.it_interval = {0, PERIOD_NS}, .it_value = {0, PERIOD_NS}};
  zdtm_require(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0, "timer_settime");
  zdtm_ready();
  zdtm_wait();

  char text[256] = "";
  FILE* f = fopen("/proc/self/timers", "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = 0;
  char want[256];
  snprintf(want, sizeof want, "ID: %d\nsignal: %d/%016lx\nnotify: signal/pid.%d\nClockID: %d\n", id, SIG, VALUE, getpid(), CLOCK_MONOTONIC);
  if (strcmp(text, want) != 0) zdtm_fail("/proc/self/timers is \"%s\", expected \"%s\"", text, want);
  if (syscall(SYS_timer_gettime, id, &its) != 0) zdtm_fail("timer_gettime(%d): %s", id, strerrorname_np(errno));
  if (its.it_interval.tv_sec != 0 || its.it_interval.tv_nsec != PERIOD_NS) zdtm_fail("interval %ld.%09ld, expected 0.040000000", its.it_interval.tv_sec, its.it_interval.tv_nsec);
  if (its.it_value.tv_sec != 0 || its.it_value.tv_nsec <= 0 || its.it_value.tv_nsec > PERIOD_NS) zdtm_fail("time left %ld.%09ld, not within the interval", its.it_value.tv_sec, its.it_value.tv_nsec);
  int before = fired;
  for (int i = 0; i < 200 && fired < before + 3; i++) usleep(10000);
  if (fired < before + 3) zdtm_fail("the timer fired %d times in 2 s after the restart", fired - before);
  if (got_value != VALUE || got_code != SI_TIMER) zdtm_fail("signal value %#lx code %d, expected %#lx SI_TIMER", got_value, got_code, VALUE);
  zdtm_pass();
}

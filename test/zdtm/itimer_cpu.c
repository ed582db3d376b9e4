// zdtm: pass
// ITIMER_VIRTUAL and ITIMER_PROF (they count the process's CPU time, of which a sleeping process
// uses next to none): after the restart each has its interval and nearly all of the time it had
// left (the kernel adds a tick as a CPU timer is set: a restart must not add a second one).
#include "zdtm.h"
#include <sys/time.h>

static const struct { int which; long interval, value; } timers[] = {{ITIMER_VIRTUAL, 7, 5}, {ITIMER_PROF, 9, 8}};

static long left_ms(struct itimerval* it) {
  return it->it_value.tv_sec * 1000 + it->it_value.tv_usec / 1000;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  long set_ms[2];
  for (int i = 0; i < 2; i++) {
    struct itimerval it = {.it_interval = {timers[i].interval, 0}, .it_value = {timers[i].value, 0}};
    zdtm_require(setitimer(timers[i].which, &it, NULL) == 0 && getitimer(timers[i].which, &it) == 0, "setitimer");
    set_ms[i] = left_ms(&it);
  }
  zdtm_ready();
  zdtm_wait();
  for (int i = 0; i < 2; i++) {
    struct itimerval it;
    if (getitimer(timers[i].which, &it) != 0) zdtm_fail("getitimer(%d): %s", timers[i].which, strerrorname_np(errno));
    if (it.it_interval.tv_sec != timers[i].interval || it.it_interval.tv_usec != 0) zdtm_fail("itimer %d: interval %ld.%06ld, expected %ld", timers[i].which, it.it_interval.tv_sec, it.it_interval.tv_usec, timers[i].interval);
    long left = left_ms(&it);
    if (left > set_ms[i] || left < set_ms[i] - 1000) zdtm_fail("itimer %d: %ld ms left, %ld ms after it was set", timers[i].which, left, set_ms[i]);
  }
  zdtm_pass();
}

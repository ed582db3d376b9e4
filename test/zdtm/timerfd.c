// zdtm: pass
// timerfds (they were refused): a periodic one (50 ms, non-blocking, dup'd); one left unread for
// 1 s while it fired every 20 ms; a one-shot that fired once, unread; one that fired once and
// fires again in an hour; a one-shot on CLOCK_BOOTTIME due in an hour; one armed absolute on
// CLOCK_REALTIME, cancelled if the clock is set, due in an hour; one disarmed with an interval;
// one disarmed, shared with a child blocked reading it. After the restart each is on its clock
// with its interval and flags, holds the expirations it held (every one of the unread periodic
// timer's, not just one), and has at most the time left it had and at least that less the time
// since the set-up (the time between checkpoint and restart does not count). The child, woken
// when the shared one is armed, exits with the expirations it read.
#include "zdtm.h"

#include <sys/timerfd.h>
#include <time.h>

#define MS 1000000LL
#define SEC 1000000000LL
#define HOUR (3600 * SEC)

static int64_t ns(struct timespec t) { return t.tv_sec * SEC + t.tv_nsec; }

static struct timespec ts(int64_t n) { return (struct timespec){n / SEC, n % SEC}; }

static int64_t now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return ns(t);
}

static int timer(clockid_t clock, int flags, int settime, int64_t value, int64_t interval) {
  int fd = timerfd_create(clock, flags | TFD_CLOEXEC);
  struct itimerspec spec = {ts(interval), ts(value)};
  zdtm_require(fd >= 0 && timerfd_settime(fd, settime, &spec, NULL) == 0, "timerfd");
  return fd;
}

/** A field of the fdinfo of `fd` ("clockid:", "settime flags:"), as a number in `base`. */
static long long shown(int fd, const char* field, int base) { return strtoll(zdtm_fdinfo(fd, field), NULL, base); }

/** The expirations read now, without blocking (0: none). */
static uint64_t ticks(int fd) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  uint64_t n = 0;
  ssize_t got = read(fd, &n, sizeof n);
  fcntl(fd, F_SETFL, flags);
  if (got < 0 && errno == EAGAIN) return 0;
  if (got != sizeof n) zdtm_fail("read of timerfd %d: %s", fd, strerrorname_np(errno));
  return n;
}

static int64_t set_up;

/** Checks clock and settime flags as fdinfo shows them, the interval, and the time left within [value - elapsed, value]. */
static void armed(const char* what, int fd, clockid_t clock, int settime, int64_t value, int64_t interval) {
  struct itimerspec spec;
  if (timerfd_gettime(fd, &spec) != 0) zdtm_fail("timerfd_gettime of the %s: %s", what, strerrorname_np(errno));
  if (shown(fd, "clockid:", 10) != clock) zdtm_fail("the %s is on clock %lld, not %d", what, shown(fd, "clockid:", 10), clock);
  if (shown(fd, "settime flags:", 8) != settime) zdtm_fail("the %s has settime flags 0%llo, not 0%o", what, shown(fd, "settime flags:", 8), settime);
  if (ns(spec.it_interval) != interval) zdtm_fail("the %s has interval %lld ns, not %lld", what, (long long)ns(spec.it_interval), (long long)interval);
  int64_t left = ns(spec.it_value), elapsed = now(CLOCK_MONOTONIC) - set_up;
  if (left > value || left < value - elapsed - 50 * MS) zdtm_fail("the %s has %lld ns left, not within %lld ns of %lld", what, (long long)left, (long long)elapsed, (long long)value);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  set_up = now(CLOCK_MONOTONIC);
  int periodic = timer(CLOCK_MONOTONIC, TFD_NONBLOCK, 0, 50 * MS, 50 * MS);
  int dup = fcntl(periodic, F_DUPFD, 50);
  int unread = timer(CLOCK_MONOTONIC, 0, 0, 20 * MS, 20 * MS);
  int fired = timer(CLOCK_MONOTONIC, 0, 0, 1 * MS, 0);
  int again = timer(CLOCK_MONOTONIC, 0, 0, 1 * MS, HOUR);
  int boot = timer(CLOCK_BOOTTIME, 0, 0, HOUR, 0);
  int idle = timer(CLOCK_MONOTONIC, 0, 0, 0, 5 * SEC);
  int absolute = timer(CLOCK_REALTIME, 0, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, now(CLOCK_REALTIME) + HOUR, 0);
  int shared = timer(CLOCK_MONOTONIC, 0, 0, 0, 0);
  zdtm_require(dup >= 0, "dup");
  pid_t child = zdtm_reading_child(shared);
  usleep(1000 * 1000);  // `unread` fires some 50 times, `fired` and `again` once
  if (ticks(periodic) < 1) zdtm_fail("set-up: the periodic timer did not fire");
  zdtm_ready();
  zdtm_wait();

  uint64_t n = ticks(unread);
  uint64_t most = (now(CLOCK_MONOTONIC) - set_up) / (20 * MS) + 1;
  if (n < 49 || n > most) zdtm_fail("the timer left unread for 1 s at 20 ms read %llu expirations, not 49 to %llu", (unsigned long long)n, (unsigned long long)most);
  if ((n = ticks(fired)) != 1) zdtm_fail("the one-shot that fired read %llu expirations, not 1", (unsigned long long)n);
  if ((n = ticks(again)) != 1) zdtm_fail("the hourly timer that fired once read %llu expirations, not 1", (unsigned long long)n);
  if (ticks(boot) != 0 || ticks(absolute) != 0 || ticks(idle) != 0) zdtm_fail("a timer due in an hour, or disarmed, has expirations");
  armed("periodic timer", periodic, CLOCK_MONOTONIC, 0, 50 * MS, 50 * MS);
  armed("timer that fired", fired, CLOCK_MONOTONIC, 0, 0, 0);
  armed("hourly timer", again, CLOCK_MONOTONIC, 0, HOUR, HOUR);
  armed("boot-time timer", boot, CLOCK_BOOTTIME, 0, HOUR, 0);
  armed("disarmed timer", idle, CLOCK_MONOTONIC, 0, 0, 5 * SEC);
  armed("absolute timer", absolute, CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, HOUR, 0);
  if (!(fcntl(periodic, F_GETFL) & O_NONBLOCK) || (fcntl(unread, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if (!(fcntl(periodic, F_GETFD) & FD_CLOEXEC) || (fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  // It runs on, and the dup is the same timer: a blocking read through it waits for the next.
  fcntl(dup, F_SETFL, 0);
  ticks(periodic);
  int64_t before = now(CLOCK_MONOTONIC);
  if (read(dup, &n, sizeof n) != sizeof n || n < 1) zdtm_fail("a blocking read through the dup: %s", strerrorname_np(errno));
  if (now(CLOCK_MONOTONIC) - before > 200 * MS) zdtm_fail("the periodic timer fired %lld ms after a read, not within 50", (long long)((now(CLOCK_MONOTONIC) - before) / MS));
  if (fcntl(periodic, F_GETFL) & O_NONBLOCK) zdtm_fail("the dup is another description (its status flags are not the periodic timer's)");
  struct itimerspec soon = {{0, 0}, {0, MS}};
  if (timerfd_settime(shared, 0, &soon, NULL) != 0) zdtm_fail("cannot arm the shared timer: %s", strerrorname_np(errno));
  zdtm_child_read(child, 1, "the shared timer");
  zdtm_pass();
}

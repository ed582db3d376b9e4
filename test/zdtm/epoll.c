// zdtm: pass
// epoll instances (they were refused): one watching a pipe with bytes in it (level-triggered),
// an eventfd (edge-triggered, nothing to read), the pipe's write end one-shot and already fired,
// a socket for EPOLLIN|EPOLLRDHUP, and a second epoll instance whose eventfd is ready; a dup of
// the first; a third shared with a child that waits in it. After the restart each instance has
// the same watches (number, events, data), epoll_wait reports what was ready and nothing else,
// the watches are found by their numbers (EPOLL_CTL_MOD re-arms the one-shot one), a watch
// added through the dup shows in the first, and the child, woken through the shared instance,
// exits with the data its event carried.
#include "zdtm.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

/** The "tfd events data" triples fdinfo lists for `epfd`, sorted (the kernel orders them by file address). */
static void watches(int epfd, char* out, size_t size) {
  char path[64], text[4096] = {0};
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
  int info = open(path, O_RDONLY | O_CLOEXEC);
  if (info < 0 || read(info, text, sizeof text - 1) <= 0) zdtm_fail("cannot read %s", path);
  close(info);
  char lines[16][96];
  int n = 0;
  for (char* at = strstr(text, "tfd:"); at && n < 16; at = strstr(at + 1, "tfd:")) {
    int tfd;
    unsigned events;
    unsigned long long data;
    if (sscanf(at, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3) zdtm_fail("unexpected fdinfo: %s", at);
    snprintf(lines[n++], sizeof lines[0], "%d:%x:%llx ", tfd, events, data);
  }
  qsort(lines, n, sizeof lines[0], (int (*)(const void*, const void*))strcmp);
  out[0] = 0;
  for (int i = 0; i < n; i++) strncat(out, lines[i], size - strlen(out) - 1);
}

static void watch(int epfd, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  zdtm_require(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
}

/** The data of the events epoll_wait reports at once, sorted, as text. */
static void ready(int epfd, char* out, size_t size) {
  struct epoll_event ev[8];
  int n = epoll_wait(epfd, ev, 8, 0);
  if (n < 0) zdtm_fail("epoll_wait: %s", strerrorname_np(errno));
  unsigned long long data[8];
  for (int i = 0; i < n; i++) data[i] = ev[i].data.u64;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && data[j - 1] > data[j]; j--) {
      unsigned long long t = data[j];
      data[j] = data[j - 1];
      data[j - 1] = t;
    }
  out[0] = 0;
  for (int i = 0; i < n; i++) snprintf(out + strlen(out), size - strlen(out), "%llx ", data[i]);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int p[2], sv[2];
  zdtm_require(pipe(p) == 0 && write(p[1], "x", 1) == 1, "pipe");
  zdtm_require(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  int quiet = eventfd(0, EFD_NONBLOCK), set = eventfd(3, EFD_NONBLOCK);
  int outer = epoll_create1(EPOLL_CLOEXEC), inner = epoll_create1(0), shared = epoll_create1(0);
  int wake = eventfd(0, 0);
  zdtm_require(quiet >= 0 && set >= 0 && outer >= 0 && inner >= 0 && shared >= 0 && wake >= 0, "epoll_create1, eventfd");
  watch(outer, p[0], EPOLLIN, 0x1111222233334444ull);
  watch(outer, quiet, EPOLLIN | EPOLLET, 7);
  watch(outer, p[1], EPOLLOUT | EPOLLONESHOT, 9);
  watch(outer, sv[0], EPOLLIN | EPOLLRDHUP, 0xabc);
  watch(inner, set, EPOLLIN, 1);
  watch(outer, inner, EPOLLIN, 0x77);
  watch(shared, wake, EPOLLIN, 0);
  int dup = fcntl(outer, F_DUPFD, 60);
  zdtm_require(dup >= 0, "dup");
  char was[1024], got[1024], now[256];
  ready(outer, now, sizeof now); // fires the one-shot watch: it keeps only its flags
  if (strcmp(now, "9 77 1111222233334444 ")) zdtm_fail("set-up: ready before the checkpoint: %s", now);
  watches(outer, was, sizeof was);
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // killed with the parent, as the test kills only it
    struct epoll_event ev;
    uint64_t v = 0;
    int n;
    while ((n = epoll_wait(shared, &ev, 1, -1)) < 0 && errno == EINTR) continue; // a stop interrupts it (signal(7)), as every caller knows
    if (n != 1 || read(wake, &v, sizeof v) != sizeof v) _exit(255);
    _exit((int)v);
  }
  zdtm_ready();
  zdtm_wait();
  watches(outer, got, sizeof got);
  if (strcmp(was, got)) zdtm_fail("the watches were %s and are %s", was, got);
  ready(outer, now, sizeof now);
  if (strcmp(now, "77 1111222233334444 ")) zdtm_fail("ready after the restart: %s, not the pipe and the inner instance", now);
  struct epoll_event rearm = {.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = 10};
  if (epoll_ctl(outer, EPOLL_CTL_MOD, p[1], &rearm)) zdtm_fail("EPOLL_CTL_MOD of the one-shot watch: %s", strerrorname_np(errno));
  uint64_t one = 1;
  if (write(quiet, &one, sizeof one) != sizeof one) zdtm_fail("cannot write the quiet eventfd");
  ready(outer, now, sizeof now);
  if (strcmp(now, "7 a 77 1111222233334444 ")) zdtm_fail("ready after the re-arm and a write: %s", now);
  if (!(fcntl(outer, F_GETFD) & FD_CLOEXEC) || (fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  watch(dup, wake, EPOLLIN, 0x55);
  watches(outer, got, sizeof got);
  if (!strstr(got, ":55 ")) zdtm_fail("a watch added through the dup is not in the first: %s", got);
  uint64_t five = 5;
  if (write(wake, &five, sizeof five) != sizeof five) zdtm_fail("cannot write the shared eventfd");
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 5) zdtm_fail("the child read %d after its epoll_wait, not 5", WEXITSTATUS(status));
  zdtm_pass();
}

// The protocol of a self-checking program (after CRIU's zdtm), driven by test/zdtm.test.ts:
//
//   NAME OUT      sets some kernel state up, creates OUT.ready, waits for SIGTERM (sent after
//                 the restart), checks that everything it set up is still exactly so, and writes
//                 "PASS\n" or "FAIL: what differs\n" to OUT (created only then: the image holds
//                 no descriptor of it).
//
// The first line of the program says what cr must do with it:
//   // zdtm: pass              restored exactly
//   // zdtm: refused KIND      `cr check` names it with a problem of kind KIND (and snapshot refuses)
// and a second line may add what every snapshot of it must say on stderr (a state cr cannot give
// back, which the program then checks reads as docs/restart.md says):
//   // zdtm: warns REGEX       each snapshot's warnings match REGEX
#pragma once
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* zdtm_out;
static volatile sig_atomic_t zdtm_stopped;

static void zdtm_on_term(int sig) {
  (void)sig;
  zdtm_stopped = 1;
}

static void zdtm_result(const char* text) {
  int fd = open(zdtm_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) _exit(3);
  close(fd);
}

/** Writes "FAIL: ..." to OUT and exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) static void zdtm_fail(const char* fmt, ...) {
  char text[1024] = "FAIL: ";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text + 6, sizeof text - 8, fmt, ap);
  va_end(ap);
  strcat(text, "\n");
  zdtm_result(text);
  exit(1);
}

/** Fails (with errno's name) unless `ok`: for the set-up steps, before the checkpoint. */
#define zdtm_require(ok, what)                                        \
  do {                                                                \
    if (!(ok)) zdtm_fail("set-up: %s: %s", what, strerrorname_np(errno)); \
  } while (0)

__attribute__((noreturn)) static void zdtm_pass(void) {
  zdtm_result("PASS\n");
  exit(0);
}

/** Reads OUT from argv and catches SIGTERM (SIGTERM stays blocked until zdtm_wait). */
static void zdtm_init(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OUT\n", argv[0]);
    exit(2);
  }
  zdtm_out = argv[1];
  struct sigaction sa = {.sa_handler = zdtm_on_term};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, NULL);
}

/** What /proc/self/fdinfo/FD shows after `field` (in a buffer the next call reuses); fails if it has no such field. */
__attribute__((unused)) static const char* zdtm_fdinfo(int fd, const char* field) {
  static char text[1024];
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  int info = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = info < 0 ? -1 : read(info, text, sizeof text - 1);
  if (info >= 0) close(info);
  if (n <= 0) zdtm_fail("cannot read %s: %s", path, strerrorname_np(errno));
  text[n] = 0;
  const char* at = strstr(text, field);
  if (!at) zdtm_fail("fd %d shows no %s: %s", fd, field, text);
  return at + strlen(field);
}

/**
 * A child that blocks reading a 64-bit count (an eventfd's, a timerfd's expirations) from `fd`
 * and exits with it (255: the read failed); killed with the process, as the test kills only it.
 */
__attribute__((unused)) static pid_t zdtm_reading_child(int fd) {
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint64_t v = 0;
    _exit(read(fd, &v, sizeof v) == sizeof v ? (int)v : 255);
  }
  return child;
}

/** Waits for a zdtm_reading_child and fails unless it read `count` through `what`. */
__attribute__((unused)) static void zdtm_child_read(pid_t child, int count, const char* what) {
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != count) zdtm_fail("the child read %d through %s, not %d", WEXITSTATUS(status), what, count);
}

/** Set-up done: creates OUT.ready. */
static void zdtm_ready(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s.ready", zdtm_out);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) zdtm_fail("cannot create %s: %s", path, strerrorname_np(errno));
  close(fd);
}

/** Sleeps until SIGTERM (the checkpoints and the restart happen meanwhile). */
static void zdtm_wait(void) {
  sigset_t open;
  sigprocmask(SIG_SETMASK, NULL, &open);
  sigdelset(&open, SIGTERM);
  while (!zdtm_stopped) sigsuspend(&open);
}

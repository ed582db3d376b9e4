// zdtm: pass
// Signal-driven I/O (once lost at restart: every owner and signal came back unset, and O_ASYNC
// came back in the flags but turned off): a pipe owned by the process with its own signal and
// O_ASYNC, one owned by a second thread, a FIFO owned by the process group, one whose owner was
// set and cleared (F_SETSIG only), one set under other uids, and an untouched one with
// O_NONBLOCK on its write end. After the restart F_GETOWN_EX, F_GETSIG, F_GETOWNER_UIDS and
// F_GETFL read as before, and a write into the first pipe brings its signal, naming its fd.
#include "zdtm.h"
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define F_GETOWNER_UIDS 17
#define SIG_A (SIGRTMIN + 2)

static volatile sig_atomic_t signalled, signal_fd, signal_code;
static volatile pid_t thread_tid;

static void on_io(int sig, siginfo_t* info, void* ctx) {
  (void)sig, (void)ctx;
  signal_fd = info->si_fd;
  signal_code = info->si_code;
  signalled++;
}

__attribute__((noreturn)) static void* idle(void* arg) {
  (void)arg;
  thread_tid = gettid();
  for (;;) pause();
}

static void set_owner(int fd, int type, pid_t pid) {
  struct f_owner_ex owner = {type, pid};
  zdtm_require(fcntl(fd, F_SETOWN_EX, &owner) == 0, "F_SETOWN_EX");
}

static void expect_owner(int fd, int type, pid_t pid, int sig, const char* what) {
  struct f_owner_ex owner;
  if (fcntl(fd, F_GETOWN_EX, &owner) != 0) zdtm_fail("%s: F_GETOWN_EX: %s", what, strerrorname_np(errno));
  if ((int)owner.type != type || owner.pid != pid) zdtm_fail("%s: owner type %d pid %d, expected type %d pid %d", what, owner.type, owner.pid, type, pid);
  int got = fcntl(fd, F_GETSIG);
  if (got != sig) zdtm_fail("%s: F_GETSIG %d, expected %d", what, got, sig);
}

static void expect_uids(int fd, uid_t uid, uid_t euid, const char* what) {
  uid_t uids[2];
  if (syscall(SYS_fcntl, fd, F_GETOWNER_UIDS, uids) != 0) zdtm_fail("%s: F_GETOWNER_UIDS: %s", what, strerrorname_np(errno));
  if (uids[0] != uid || uids[1] != euid) zdtm_fail("%s: owner uids %u %u, expected %u %u", what, uids[0], uids[1], uid, euid);
}

static void expect_flags(int fd, int flags, const char* what) {
  int got = fcntl(fd, F_GETFL) & (O_ASYNC | O_NONBLOCK);
  if (got != flags) zdtm_fail("%s: O_ASYNC|O_NONBLOCK flags %#o, expected %#o", what, got, flags);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct sigaction sa = {.sa_sigaction = on_io, .sa_flags = SA_SIGINFO | SA_RESTART};
  sigemptyset(&sa.sa_mask);
  zdtm_require(sigaction(SIG_A, &sa, NULL) == 0, "sigaction");
  pthread_t thread;
  zdtm_require(pthread_create(&thread, NULL, idle, NULL) == 0, "pthread_create");
  while (thread_tid == 0) usleep(1000);
  int own[2], threads[2], cleared[2], other_uids[2], untouched[2];
  zdtm_require(pipe(own) == 0 && pipe(threads) == 0 && pipe(cleared) == 0 && pipe(other_uids) == 0 && pipe(untouched) == 0, "pipe");
  set_owner(own[0], F_OWNER_PID, getpid());
  zdtm_require(fcntl(own[0], F_SETSIG, SIG_A) == 0, "F_SETSIG");
  zdtm_require(fcntl(own[0], F_SETFL, O_ASYNC | O_NONBLOCK) == 0, "F_SETFL O_ASYNC");
  set_owner(threads[0], F_OWNER_TID, thread_tid);
  zdtm_require(mkfifo("fifo", 0600) == 0, "mkfifo");
  int fifo = open("fifo", O_RDWR);
  zdtm_require(fifo >= 0, "open fifo");
  set_owner(fifo, F_OWNER_PGRP, getpgrp());
  zdtm_require(fcntl(cleared[0], F_SETOWN, getpid()) == 0 && fcntl(cleared[0], F_SETOWN, 0) == 0, "F_SETOWN and back");
  zdtm_require(fcntl(cleared[0], F_SETSIG, SIGUSR1) == 0, "F_SETSIG");
  zdtm_require(setresuid(65534, 1000, 0) == 0, "setresuid");
  set_owner(other_uids[1], F_OWNER_PID, getpid());
  zdtm_require(setresuid(0, 0, 0) == 0, "setresuid back");
  zdtm_require(fcntl(untouched[1], F_SETFL, O_NONBLOCK) == 0, "F_SETFL O_NONBLOCK");
  zdtm_ready();
  zdtm_wait();
  expect_owner(own[0], F_OWNER_PID, getpid(), SIG_A, "pipe owned by the process");
  expect_uids(own[0], 0, 0, "pipe owned by the process");
  expect_flags(own[0], O_ASYNC | O_NONBLOCK, "pipe owned by the process");
  expect_owner(threads[0], F_OWNER_TID, thread_tid, 0, "pipe owned by a thread");
  expect_owner(fifo, F_OWNER_PGRP, getpgrp(), 0, "FIFO owned by the process group");
  expect_owner(cleared[0], F_OWNER_PID, 0, SIGUSR1, "pipe whose owner was cleared");
  expect_owner(other_uids[1], F_OWNER_PID, getpid(), 0, "pipe owned under other uids");
  expect_uids(other_uids[1], 65534, 1000, "pipe owned under other uids");
  expect_owner(untouched[0], F_OWNER_TID, 0, 0, "untouched pipe");
  expect_flags(untouched[0], 0, "untouched pipe, read end");
  expect_flags(untouched[1], O_NONBLOCK, "untouched pipe, write end");
  zdtm_require(write(own[1], "x", 1) == 1, "write");
  for (int i = 0; i < 100 && !signalled; i++) usleep(10000);
  if (!signalled) zdtm_fail("no signal %d 1 s after a write into the pipe with O_ASYNC", SIG_A);
  if (signal_fd != own[0] || signal_code != POLL_IN) zdtm_fail("signal for fd %d code %d, expected fd %d POLL_IN", signal_fd, signal_code, own[0]);
  zdtm_pass();
}

// zdtm: pass
// A read lease and a write lease: after the restart F_GETLEASE reports each, a child's
// conflicting open is refused (O_NONBLOCK: EWOULDBLOCK) and starts a break the process hears
// of (SIGIO, to the owner the lease set), and each lease then reports the type it is broken to.
#include "zdtm.h"

#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t sigio;

static void on_sigio(int sig) {
  (void)sig;
  sigio++;
}

// A child's open(path, flags | O_NONBLOCK): 0 if it opened, else its errno.
static int open_in_child(const char* path, int flags) {
  pid_t child = fork();
  if (child == 0) _exit(open(path, flags | O_NONBLOCK) >= 0 ? 0 : errno);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) continue;  // the SIGIO of the break
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static const char* lease_name(int type) {
  return type == F_RDLCK ? "F_RDLCK" : type == F_WRLCK ? "F_WRLCK" : type == F_UNLCK ? "F_UNLCK" : "?";
}

static void expect_lease(int fd, int want, const char* what) {
  int got = fcntl(fd, F_GETLEASE);
  if (got != want) zdtm_fail("%s: F_GETLEASE %s, expected %s", what, got < 0 ? strerrorname_np(errno) : lease_name(got), lease_name(want));
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct sigaction sa = {.sa_handler = on_sigio};
  sigemptyset(&sa.sa_mask);
  zdtm_require(sigaction(SIGIO, &sa, NULL) == 0, "sigaction");
  int r = open("read-leased", O_RDONLY | O_CREAT, 0644);
  int w = open("write-leased", O_RDWR | O_CREAT, 0644);
  zdtm_require(r >= 0 && w >= 0, "create");
  zdtm_require(fcntl(r, F_SETLEASE, F_RDLCK) == 0, "read lease");
  zdtm_require(fcntl(w, F_SETLEASE, F_WRLCK) == 0, "write lease");
  zdtm_ready();
  zdtm_wait();
  expect_lease(r, F_RDLCK, "after restart, the read lease");
  expect_lease(w, F_WRLCK, "after restart, the write lease");
  int got = open_in_child("read-leased", O_WRONLY);
  if (got != EWOULDBLOCK) zdtm_fail("a child opened the read-leased file for writing: %s, expected EWOULDBLOCK", got ? strerrorname_np(got) : "opened");
  got = open_in_child("write-leased", O_RDONLY);
  if (got != EWOULDBLOCK) zdtm_fail("a child opened the write-leased file for reading: %s, expected EWOULDBLOCK", got ? strerrorname_np(got) : "opened");
  for (int i = 0; i < 200 && sigio == 0; i++) nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  if (sigio == 0) zdtm_fail("no SIGIO within 2 s of the lease breaks: the leases' owner is not this process");
  expect_lease(r, F_UNLCK, "the read lease, broken by a writer");
  expect_lease(w, F_RDLCK, "the write lease, broken by a reader");
  zdtm_pass();
}

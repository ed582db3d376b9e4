// zdtm: pass
// eventfds (they were refused): one in semaphore mode, non-blocking, holding 5 and dup'd to a
// second descriptor; another holding a count beyond 32 bits (eventfd(2)'s own initial value is
// 32 bits); a third, empty and blocking, shared with a child that waits on it. After the restart
// the counters, modes and flags are as they were, the dup is one description with the first (a
// write through one is read through the other), and the child, woken through the shared eventfd,
// exits with the value it read.
#include "zdtm.h"

#include <sys/eventfd.h>

/** The counter and mode fdinfo shows, without reading (which would change it). */
static void shows(int fd, uint64_t count, int semaphore) {
  unsigned long long got = strtoull(zdtm_fdinfo(fd, "eventfd-count:"), NULL, 16);
  int mode = atoi(zdtm_fdinfo(fd, "eventfd-semaphore:"));
  if (got != count || mode != semaphore) zdtm_fail("fd %d holds %llx (semaphore %d), not %llx (semaphore %d)", fd, got, mode, (unsigned long long)count, semaphore);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int sem = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
  int dup = fcntl(sem, F_DUPFD, 50);
  int big = eventfd(0, EFD_CLOEXEC);
  uint64_t large = 0x123456789aull;
  zdtm_require(sem >= 0 && dup >= 0 && big >= 0 && write(big, &large, sizeof large) == sizeof large, "eventfds");
  int wake = eventfd(0, 0);
  zdtm_require(wake >= 0, "the shared eventfd");
  pid_t child = zdtm_reading_child(wake);
  zdtm_ready();
  zdtm_wait();
  shows(sem, 5, 1);
  shows(big, large, 0);
  shows(wake, 0, 0);
  if (!(fcntl(sem, F_GETFL) & O_NONBLOCK) || (fcntl(wake, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if (!(fcntl(sem, F_GETFD) & FD_CLOEXEC) || (fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  uint64_t v = 0;
  if (read(dup, &v, sizeof v) != sizeof v || v != 1) zdtm_fail("a semaphore read through the dup gave %llu, not 1", (unsigned long long)v);
  shows(sem, 4, 1);
  if (read(big, &v, sizeof v) != sizeof v || v != large) zdtm_fail("the large count read as %llx", (unsigned long long)v);
  uint64_t seven = 7;
  if (write(wake, &seven, sizeof seven) != sizeof seven) zdtm_fail("cannot write the shared eventfd");
  zdtm_child_read(child, 7, "the shared eventfd");
  zdtm_pass();
}

// zdtm: refused file-lock
// A lease being broken (another process opened the file; the holder has lease-break-time to
// give it up): a restart cannot take a lease again mid-break, so cr check names it.
#include "zdtm.h"

#include <sys/wait.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  signal(SIGIO, SIG_IGN);  // the break's notification: this program does not give the lease up
  int fd = open("leased", O_RDWR | O_CREAT, 0644);
  zdtm_require(fd >= 0, "create");
  zdtm_require(fcntl(fd, F_SETLEASE, F_WRLCK) == 0, "write lease");
  pid_t child = fork();
  if (child == 0) _exit(open("leased", O_RDONLY | O_NONBLOCK) < 0 && errno == EWOULDBLOCK ? 0 : 1);
  int status = 0;
  zdtm_require(waitpid(child, &status, 0) == child, "waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("set-up: the reader's open did not start a lease break");
  zdtm_require(fcntl(fd, F_GETLEASE) == F_RDLCK, "F_GETLEASE: breaking to a read lease");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

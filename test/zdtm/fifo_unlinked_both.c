// zdtm: refused deleted-file
// A FIFO open (O_RDWR) and unlinked since: its path names nothing a restart could open.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkfifo("fifo", 0600) == 0, "mkfifo");
  int fd = open("fifo", O_RDWR);
  zdtm_require(fd >= 0, "open fifo read-write");
  zdtm_require(unlink("fifo") == 0, "unlink");
  struct stat before;
  zdtm_require(fstat(fd, &before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (fstat(fd, &now) != 0 || now.st_ino != before.st_ino || !S_ISFIFO(now.st_mode)) zdtm_fail("fd is not the unlinked FIFO");
  if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR) zdtm_fail("fd lost its access mode");
  zdtm_pass();
}

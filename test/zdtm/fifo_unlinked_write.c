// zdtm: pass
// A FIFO open O_WRONLY and unlinked since. After the restart the descriptor is again on an unlinked
// FIFO at that path, with its mode and access mode.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkfifo("fifo", 0640) == 0, "mkfifo");
  int reader = open("fifo", O_RDONLY | O_NONBLOCK);
  int fd = open("fifo", O_WRONLY);
  zdtm_require(reader >= 0 && fd >= 0 && close(reader) == 0, "open fifo for writing");
  zdtm_require(unlink("fifo") == 0, "unlink");
  char before[4096] = {0}, now[4096] = {0}, fd_path[64];
  snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
  zdtm_require(readlink(fd_path, before, sizeof before - 1) > 0, "readlink");
  struct stat st_before, st_now;
  zdtm_require(fstat(fd, &st_before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  if (readlink(fd_path, now, sizeof now - 1) <= 0 || strcmp(now, before) != 0) zdtm_fail("fd is on \"%s\", was \"%s\"", now, before);
  if (fstat(fd, &st_now) != 0 || !S_ISFIFO(st_now.st_mode) || st_now.st_nlink != 0) zdtm_fail("fd is not an unlinked FIFO");
  if (st_now.st_mode != st_before.st_mode || st_now.st_uid != st_before.st_uid) zdtm_fail("mode 0%o, was 0%o", st_now.st_mode, st_before.st_mode);
  if ((fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY) zdtm_fail("fd flags 0%o", fcntl(fd, F_GETFL));
  signal(SIGPIPE, SIG_IGN);
  if (write(fd, "x", 1) != -1 || errno != EPIPE) zdtm_fail("write to a FIFO without readers did not fail with EPIPE");
  zdtm_pass();
}

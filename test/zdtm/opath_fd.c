// zdtm: pass
// O_PATH descriptors on a file and on a directory (restart once failed restoring the file's
// offset: "lseek failed with EBADF"). After the restart each still names the same inode and is
// still O_PATH (reading through it fails with EBADF).
#include "zdtm.h"
#include <sys/stat.h>

static void same_inode(int fd, const struct stat* before, const char* what) {
  struct stat now;
  if (fstat(fd, &now) != 0) zdtm_fail("fstat of the O_PATH fd on %s: %s", what, strerrorname_np(errno));
  if (now.st_dev != before->st_dev || now.st_ino != before->st_ino) zdtm_fail("O_PATH fd on %s names another inode", what);
  int flags = fcntl(fd, F_GETFL);
  if (!(flags & O_PATH)) zdtm_fail("fd on %s lost O_PATH (flags 0%o)", what, flags);
  char c;
  if (read(fd, &c, 1) != -1 || errno != EBADF) zdtm_fail("read through the O_PATH fd on %s did not fail with EBADF", what);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int made = open("file", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  zdtm_require(made >= 0 && write(made, "data", 4) == 4 && close(made) == 0, "create file");
  zdtm_require(mkdir("dir", 0700) == 0, "mkdir");
  int file = open("file", O_PATH), dir = open("dir", O_PATH | O_DIRECTORY);
  zdtm_require(file >= 0 && dir >= 0, "open O_PATH");
  struct stat file_st, dir_st;
  zdtm_require(fstat(file, &file_st) == 0 && fstat(dir, &dir_st) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  same_inode(file, &file_st, "file");
  same_inode(dir, &dir_st, "dir");
  zdtm_pass();
}

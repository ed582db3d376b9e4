// zdtm: pass
// The working directory, also open on a descriptor, removed while both hold it. After the
// restart both are the same removed directory again, at that path.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0700) == 0, "mkdir");
  int dir = open("gone", O_RDONLY | O_DIRECTORY);
  zdtm_require(dir >= 0 && fchdir(dir) == 0 && rmdir("../gone") == 0, "open, fchdir, rmdir");
  char before[4096] = {0}, cwd_link[4096] = {0}, fd_link[4096] = {0}, fd_path[64];
  snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", dir);
  zdtm_require(readlink("/proc/self/cwd", before, sizeof before - 1) > 0, "readlink cwd");
  zdtm_ready();
  zdtm_wait();
  if (readlink("/proc/self/cwd", cwd_link, sizeof cwd_link - 1) <= 0 || strcmp(cwd_link, before) != 0) zdtm_fail("cwd is \"%s\", was \"%s\"", cwd_link, before);
  if (readlink(fd_path, fd_link, sizeof fd_link - 1) <= 0 || strcmp(fd_link, before) != 0) zdtm_fail("fd is on \"%s\", was \"%s\"", fd_link, before);
  struct stat cwd, fd;
  if (stat(".", &cwd) != 0 || fstat(dir, &fd) != 0) zdtm_fail("stat: %s", strerrorname_np(errno));
  if (cwd.st_dev != fd.st_dev || cwd.st_ino != fd.st_ino) zdtm_fail("cwd and fd are different directories");
  if (!S_ISDIR(fd.st_mode) || fd.st_nlink != 0) zdtm_fail("fd is not a removed directory");
  if ((fcntl(dir, F_GETFL) & (O_ACCMODE | O_DIRECTORY)) != (O_RDONLY | O_DIRECTORY)) zdtm_fail("fd flags 0%o", fcntl(dir, F_GETFL));
  zdtm_pass();
}

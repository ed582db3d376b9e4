// zdtm: refused deleted-cwd
// The working directory, also open on a descriptor, removed while both hold it.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0700) == 0, "mkdir");
  int dir = open("gone", O_RDONLY | O_DIRECTORY);
  zdtm_require(dir >= 0 && fchdir(dir) == 0 && rmdir("../gone") == 0, "open, fchdir, rmdir");
  struct stat before;
  zdtm_require(fstat(dir, &before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  struct stat cwd, fd;
  if (stat(".", &cwd) != 0 || fstat(dir, &fd) != 0) zdtm_fail("stat: %s", strerrorname_np(errno));
  if (cwd.st_ino != before.st_ino || fd.st_ino != before.st_ino || fd.st_nlink != 0) zdtm_fail("cwd or fd is not the removed directory");
  zdtm_pass();
}

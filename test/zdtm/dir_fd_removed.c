// zdtm: refused deleted-file
// A descriptor open on a directory that was removed since.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0700) == 0, "mkdir");
  int dir = open("gone", O_RDONLY | O_DIRECTORY);
  zdtm_require(dir >= 0 && rmdir("gone") == 0, "open, rmdir");
  struct stat before;
  zdtm_require(fstat(dir, &before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (fstat(dir, &now) != 0 || now.st_ino != before.st_ino || now.st_nlink != 0) zdtm_fail("fd is not the removed directory");
  zdtm_pass();
}

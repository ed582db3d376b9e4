// zdtm: refused deleted-cwd
// The working directory was removed (restart once failed at "chdir to the saved working
// directory ... (deleted): ENOENT", after `cr snapshot --kill` had killed the program).
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0700) == 0 && chdir("gone") == 0 && rmdir("../gone") == 0, "mkdir, chdir, rmdir");
  struct stat before;
  zdtm_require(stat(".", &before) == 0, "stat .");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (stat(".", &now) != 0 || now.st_ino != before.st_ino || now.st_nlink != 0) zdtm_fail("the working directory is not the removed one");
  zdtm_pass();
}

// zdtm: refused deleted-cwd
// The working directory was removed with its parent: a restart could recreate neither.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int top = open(".", O_RDONLY | O_DIRECTORY);
  zdtm_require(top >= 0 && mkdir("a", 0700) == 0 && mkdir("a/b", 0700) == 0 && chdir("a/b") == 0, "mkdir, chdir");
  zdtm_require(unlinkat(top, "a/b", AT_REMOVEDIR) == 0 && unlinkat(top, "a", AT_REMOVEDIR) == 0 && close(top) == 0, "rmdir");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (stat(".", &now) != 0 || !S_ISDIR(now.st_mode) || now.st_nlink != 0) zdtm_fail("cwd is not a removed directory");
  zdtm_pass();
}

// zdtm: pass
// The working directory was removed (restart once failed at "chdir to the saved working
// directory ... (deleted): ENOENT", after `cr snapshot --kill` had killed the program). After
// the restart the working directory is again a removed directory at that path, with its mode.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0751) == 0 && chdir("gone") == 0 && rmdir("../gone") == 0, "mkdir, chdir, rmdir");
  char before[4096] = {0}, now[4096] = {0};
  zdtm_require(readlink("/proc/self/cwd", before, sizeof before - 1) > 0, "readlink cwd");
  struct stat st_before, st_now;
  zdtm_require(stat(".", &st_before) == 0, "stat .");
  zdtm_ready();
  zdtm_wait();
  if (readlink("/proc/self/cwd", now, sizeof now - 1) <= 0 || strcmp(now, before) != 0) zdtm_fail("cwd is \"%s\", was \"%s\"", now, before);
  if (stat(".", &st_now) != 0 || !S_ISDIR(st_now.st_mode) || st_now.st_nlink != 0) zdtm_fail("cwd is not a removed directory");
  if (st_now.st_mode != st_before.st_mode || st_now.st_uid != st_before.st_uid) zdtm_fail("cwd mode 0%o, was 0%o", st_now.st_mode, st_before.st_mode);
  if (open("x", O_WRONLY | O_CREAT, 0600) != -1 || errno != ENOENT) zdtm_fail("a file could be created in the removed cwd");
  zdtm_pass();
}

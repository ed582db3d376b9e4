// zdtm: pass
// A descriptor open on a directory that was removed since. After the restart it is again on a
// removed directory at that path, with its mode and open flags.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("gone", 0705) == 0, "mkdir");
  int dir = open("gone", O_RDONLY | O_DIRECTORY);
  zdtm_require(dir >= 0 && rmdir("gone") == 0, "open, rmdir");
  char before[4096] = {0}, now[4096] = {0}, fd_path[64];
  snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", dir);
  zdtm_require(readlink(fd_path, before, sizeof before - 1) > 0, "readlink");
  struct stat st_before, st_now;
  zdtm_require(fstat(dir, &st_before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  if (readlink(fd_path, now, sizeof now - 1) <= 0 || strcmp(now, before) != 0) zdtm_fail("fd is on \"%s\", was \"%s\"", now, before);
  if (fstat(dir, &st_now) != 0 || !S_ISDIR(st_now.st_mode) || st_now.st_nlink != 0) zdtm_fail("fd is not a removed directory");
  if (st_now.st_mode != st_before.st_mode || st_now.st_uid != st_before.st_uid || st_now.st_gid != st_before.st_gid) zdtm_fail("mode 0%o, was 0%o", st_now.st_mode, st_before.st_mode);
  if (openat(dir, "x", O_WRONLY | O_CREAT, 0600) != -1 || errno != ENOENT) zdtm_fail("a file could be created in the removed directory");
  zdtm_pass();
}

// zdtm: pass
// A file deleted while held whose path now holds a new file. After the restart the descriptor is
// on a deleted file with the old bytes, and the new file at the path is untouched (same inode and
// bytes), with nothing else left in the directory.
#include "zdtm.h"

#include <dirent.h>
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open("data", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  zdtm_require(fd >= 0 && write(fd, "old bytes", 9) == 9 && unlink("data") == 0, "the old data");
  int now = open("data", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  zdtm_require(now >= 0 && write(now, "the new file", 12) == 12 && close(now) == 0, "the new data");
  struct stat before;
  zdtm_require(stat("data", &before) == 0, "stat data");
  zdtm_ready();
  zdtm_wait();
  struct stat st, after;
  char old[10] = "", got[13] = "";
  if (fstat(fd, &st) != 0 || st.st_nlink != 0 || pread(fd, old, 9, 0) != 9 || strcmp(old, "old bytes") != 0) zdtm_fail("the descriptor reads \"%s\" (nlink %lu)", old, (unsigned long)st.st_nlink);
  now = open("data", O_RDONLY | O_CLOEXEC);
  if (stat("data", &after) != 0 || after.st_ino != before.st_ino || now < 0 || read(now, got, 12) != 12 || strcmp(got, "the new file") != 0) zdtm_fail("the file at the path changed: \"%s\"", got);
  DIR* dir = opendir(".");
  for (struct dirent* e; dir && (e = readdir(dir));) {
    if (e->d_name[0] == '.' && strstr(e->d_name, "data")) zdtm_fail("%s was left in the directory", e->d_name);
  }
  zdtm_pass();
}

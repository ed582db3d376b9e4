// zdtm: pass
// An O_TMPFILE file (it never had a name) written and held at an offset. After the restart it is
// an unnamed file again in the same directory (its link "DIR/#INODE (deleted)", st_nlink 0) with
// its bytes and offset, and, as an O_TMPFILE file made without O_EXCL is, it can still be given a
// name (linkat through /proc/self/fd).
#include "zdtm.h"

#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open(".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  zdtm_require(fd >= 0 && write(fd, "never had a name", 16) == 16 && lseek(fd, 6, SEEK_SET) == 6, "O_TMPFILE");
  char cwd[4096];
  zdtm_require(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
  zdtm_ready();
  zdtm_wait();
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_nlink != 0 || st.st_size != 16) zdtm_fail("fstat: nlink %lu, size %lld", (unsigned long)st.st_nlink, (long long)st.st_size);
  char self[64], link[4096] = "", want[4200];
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  snprintf(want, sizeof want, "%s/#%lu (deleted)", cwd, (unsigned long)st.st_ino);
  if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, want) != 0) zdtm_fail("fd %d links to \"%s\", not \"%s\"", fd, link, want);
  char rest[16] = "";
  if (read(fd, rest, 10) != 10 || memcmp(rest, "had a name", 10) != 0) zdtm_fail("read from offset 6: \"%s\"", rest);
  if (linkat(AT_FDCWD, self, AT_FDCWD, "named", AT_SYMLINK_FOLLOW) != 0) zdtm_fail("linkat: %s", strerrorname_np(errno));
  int named = open("named", O_RDONLY | O_CLOEXEC);
  char all[17] = "";
  if (named < 0 || read(named, all, 16) != 16 || strcmp(all, "never had a name") != 0) zdtm_fail("the file linked as \"named\" reads \"%s\"", all);
  zdtm_pass();
}

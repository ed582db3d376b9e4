// zdtm: pass
// A temp file unlinked while held (it was refused): written sparse (data, a 1 MiB hole, data at
// the end), mode 0640, held at offset 5000 with a dup of that description, a second description
// open O_WRONLY|O_APPEND, and the first shared with a child. After the restart it is a deleted
// file again (st_nlink 0, the link ends in " (deleted)") with its size, mode, bytes and hole; the
// offsets are as saved, the dup is one description with it, the appends go to its end, and the
// child, reading 5 bytes through the description it inherited, moves the parent's offset too.
#include "zdtm.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define HOLE_END (1 << 20)

static void expect_bytes(int fd, off_t at, const char* want) {
  char got[64] = "";
  size_t n = strlen(want);
  if (pread(fd, got, n, at) != (ssize_t)n || memcmp(got, want, n) != 0) zdtm_fail("at %lld: \"%.*s\", not \"%s\"", (long long)at, (int)n, got, want);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open("scratch.tmp", O_RDWR | O_CREAT | O_EXCL, 0600);
  int appender = open("scratch.tmp", O_WRONLY | O_APPEND | O_CLOEXEC);
  zdtm_require(fd >= 0 && appender >= 0 && fchmod(fd, 0640) == 0, "create scratch.tmp");
  char page[8192];
  for (size_t i = 0; i < sizeof page; i++) page[i] = 'a' + i % 26;
  zdtm_require(write(fd, page, sizeof page) == sizeof page && pwrite(fd, "the end", 7, HOLE_END) == 7, "write scratch.tmp");
  zdtm_require(unlink("scratch.tmp") == 0 && lseek(fd, 5000, SEEK_SET) == 5000, "unlink, seek");
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 40);
  int go[2];
  zdtm_require(dup >= 0 && pipe(go) == 0, "dup, pipe");
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c, five[5];
    _exit(read(go[0], &c, 1) == 1 && read(fd, five, 5) == 5 && memcmp(five, page + 5000, 5) == 0 ? 0 : 1);
  }
  zdtm_ready();
  zdtm_wait();
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_nlink != 0 || st.st_size != HOLE_END + 7 || (st.st_mode & 07777) != 0640) zdtm_fail("fstat: nlink %lu, size %lld, mode %o", (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode & 07777);
  char self[64], link[4096] = "";
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  if (readlink(self, link, sizeof link - 1) < 0 || !strstr(link, "/scratch.tmp (deleted)")) zdtm_fail("fd %d links to \"%s\"", fd, link);
  if (lseek(dup, 0, SEEK_CUR) != 5000) zdtm_fail("the dup is at %lld, not 5000", (long long)lseek(dup, 0, SEEK_CUR));
  expect_bytes(fd, 0, "abcdefgh");
  expect_bytes(fd, 8190, "ab");
  expect_bytes(fd, HOLE_END, "the end");
  if (lseek(fd, 8192, SEEK_HOLE) != 8192 || lseek(fd, 8192, SEEK_DATA) < HOLE_END - 4096) zdtm_fail("the hole after 8192 is gone");
  lseek(fd, 5000, SEEK_SET);
  if (write(go[1], "g", 1) != 1) zdtm_fail("waking the child");
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("the child did not read the file's bytes through its descriptor");
  if (lseek(fd, 0, SEEK_CUR) != 5005) zdtm_fail("the child's read left the shared offset at %lld, not 5005", (long long)lseek(fd, 0, SEEK_CUR));
  if (write(appender, "+", 1) != 1) zdtm_fail("append: %s", strerrorname_np(errno));
  expect_bytes(fd, HOLE_END, "the end+");
  zdtm_pass();
}

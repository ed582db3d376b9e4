// zdtm: pass
// flock, shared and exclusive, on files and on a directory: after the restart a child's new open
// of each finds the locks held (LOCK_NB: shared taken alongside, exclusive refused), and the
// exclusive lock still belongs to the open file both its fds share (LOCK_UN through the dup
// releases it).
#include "zdtm.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

// In a child, on a new open of `path`: 0 if flock(op | LOCK_NB) is granted, else its errno.
static int try_in_child(const char* path, int op) {
  pid_t child = fork();
  if (child == 0) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) _exit(100);
    _exit(flock(fd, op | LOCK_NB) == 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static void expect(const char* path, int op, int want, const char* when) {
  int got = try_in_child(path, op);
  if (got != want) {
    zdtm_fail("%s: flock(%s%s) on a new open of %s: %s, expected %s", when, op == LOCK_SH ? "LOCK_SH" : "LOCK_EX", "|LOCK_NB", path,
              got ? strerrorname_np(got) : "granted", want ? strerrorname_np(want) : "granted");
  }
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int s = open("shared", O_RDONLY | O_CREAT, 0644);
  int e = open("excl", O_RDWR | O_CREAT, 0644);
  zdtm_require(s >= 0 && e >= 0, "create");
  int e2 = dup(e);
  zdtm_require(e2 >= 0, "dup");
  zdtm_require(mkdir("dir", 0755) == 0, "mkdir");
  int d = open("dir", O_RDONLY | O_DIRECTORY);
  zdtm_require(d >= 0 && flock(d, LOCK_EX) == 0, "flock LOCK_EX on a directory");
  zdtm_require(flock(s, LOCK_SH) == 0, "flock LOCK_SH");
  zdtm_require(flock(e, LOCK_EX) == 0, "flock LOCK_EX");
  zdtm_ready();
  zdtm_wait();
  expect("shared", LOCK_SH, 0, "after restart");
  expect("shared", LOCK_EX, EWOULDBLOCK, "after restart");
  expect("excl", LOCK_SH, EWOULDBLOCK, "after restart");
  expect("dir", LOCK_SH, EWOULDBLOCK, "after restart");
  if (flock(e2, LOCK_UN) != 0) zdtm_fail("LOCK_UN through the dup: %s", strerrorname_np(errno));
  expect("excl", LOCK_EX, 0, "after LOCK_UN through the dup");
  if (flock(e, LOCK_EX | LOCK_NB) != 0) zdtm_fail("LOCK_EX again: %s", strerrorname_np(errno));
  expect("excl", LOCK_SH, EWOULDBLOCK, "after locking again");
  zdtm_pass();
}

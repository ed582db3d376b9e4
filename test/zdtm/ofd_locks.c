// zdtm: pass
// OFD locks belong to the open file description: after the restart another open of the file
// sees each range held exactly (F_OFD_GETLK), a dup of the locking fd still shares the lock
// (unlocking through it frees the range) and its offset, and two separate opens in the process
// still conflict with each other.
#include "zdtm.h"

static int ofd(int fd, int cmd, short type, off_t start, off_t len, struct flock* out) {
  struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len, .l_pid = 0};
  int r = fcntl(fd, cmd, &l);
  if (out) *out = l;
  return r;
}

// What a write lock on byte `at` through `fd` would conflict with: "TYPE start len" or "free".
static const char* probe(int fd, off_t at) {
  static char text[128];
  struct flock l;
  if (ofd(fd, F_OFD_GETLK, F_WRLCK, at, 1, &l) != 0) snprintf(text, sizeof text, "F_OFD_GETLK: %s", strerrorname_np(errno));
  else if (l.l_type == F_UNLCK) snprintf(text, sizeof text, "free");
  else snprintf(text, sizeof text, "%s %lld %lld pid %d", l.l_type == F_WRLCK ? "WRITE" : "READ", (long long)l.l_start, (long long)l.l_len, l.l_pid);
  return text;
}

static void expect(int fd, off_t at, const char* want, const char* when) {
  const char* got = probe(fd, at);
  if (strcmp(got, want) != 0) zdtm_fail("%s: byte %lld: %s, expected %s", when, (long long)at, got, want);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int a = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
  zdtm_require(a >= 0 && ftruncate(a, 1000) == 0, "create data");
  int b = dup(a);
  int c = open("data", O_RDWR);
  zdtm_require(b >= 0 && c >= 0, "dup, open");
  zdtm_require(ofd(a, F_OFD_SETLK, F_WRLCK, 0, 10, NULL) == 0, "OFD write lock 0-9");
  zdtm_require(ofd(a, F_OFD_SETLK, F_RDLCK, 50, 0, NULL) == 0, "OFD read lock 50-EOF");
  zdtm_require(ofd(c, F_OFD_SETLK, F_RDLCK, 20, 10, NULL) == 0, "OFD read lock 20-29");
  zdtm_require(lseek(a, 123, SEEK_SET) == 123, "lseek");
  zdtm_ready();
  zdtm_wait();
  int d = open("data", O_RDWR);
  if (d < 0) zdtm_fail("open data again: %s", strerrorname_np(errno));
  const struct { off_t at; const char* want; } probes[] = {
      {0, "WRITE 0 10 pid -1"}, {9, "WRITE 0 10 pid -1"}, {10, "free"}, {19, "free"}, {20, "READ 20 10 pid -1"},
      {29, "READ 20 10 pid -1"}, {30, "free"}, {49, "free"}, {50, "READ 50 0 pid -1"}, {1 << 30, "READ 50 0 pid -1"},
  };
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) expect(d, probes[i].at, probes[i].want, "after restart");
  if (lseek(b, 0, SEEK_CUR) != 123) zdtm_fail("the dup of the locking fd is at offset %lld, not 123: not one open file any more", (long long)lseek(b, 0, SEEK_CUR));
  struct flock l;
  if (ofd(c, F_OFD_SETLK, F_WRLCK, 0, 10, &l) == 0 || errno != EAGAIN) zdtm_fail("a second open of the file took a write lock over the first one's (errno %s)", strerrorname_np(errno));
  if (ofd(b, F_OFD_SETLK, F_UNLCK, 0, 10, NULL) != 0) zdtm_fail("unlock 0-9 through the dup: %s", strerrorname_np(errno));
  expect(d, 0, "free", "after unlocking through the dup");
  if (ofd(b, F_OFD_SETLK, F_WRLCK, 0, 10, NULL) != 0) zdtm_fail("relock 0-9 through the dup: %s", strerrorname_np(errno));
  expect(d, 5, "WRITE 0 10 pid -1", "after relocking through the dup");
  zdtm_pass();
}

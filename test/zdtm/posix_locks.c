// zdtm: pass
// POSIX record locks of several ranges, read and write, on one file: after the restart a forked
// child (another lock owner) finds each range held exactly as it was (F_GETLK: type, start,
// length, holder), the bytes between free, and the process can still unlock and relock.
#include "zdtm.h"

#include <sys/wait.h>

struct range {
  short type;
  off_t start, len;  // len 0: to EOF
};

static const struct range held[] = {
    {F_WRLCK, 0, 10}, {F_RDLCK, 20, 10}, {F_WRLCK, 100, 100}, {F_RDLCK, 500, 0},
};

static int set_lock(int fd, short type, off_t start, off_t len) {
  struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
  return fcntl(fd, F_SETLK, &l);
}

// In a child: what a write lock on byte `at` would conflict with, as "TYPE start len pid" or "free".
static void probe(int fd, off_t at, char* out, size_t size) {
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
  if (fcntl(fd, F_GETLK, &l) != 0) snprintf(out, size, "F_GETLK: %s", strerrorname_np(errno));
  else if (l.l_type == F_UNLCK) snprintf(out, size, "free");
  else snprintf(out, size, "%s %lld %lld %d", l.l_type == F_WRLCK ? "WRITE" : "READ", (long long)l.l_start, (long long)l.l_len, l.l_pid);
}

// Runs `check` in a forked child (another POSIX lock owner); its complaint, or "" if none.
static void in_child(int fd, void (*check)(int fd, char* out, size_t size), char* out, size_t size) {
  int p[2];
  if (pipe(p) != 0) zdtm_fail("pipe: %s", strerrorname_np(errno));
  pid_t child = fork();
  if (child == 0) {
    char text[512] = "";
    check(fd, text, sizeof text);
    if (write(p[1], text, strlen(text)) < 0) _exit(2);
    _exit(0);
  }
  close(p[1]);
  ssize_t n = read(p[0], out, size - 1);
  out[n > 0 ? n : 0] = 0;
  close(p[0]);
  waitpid(child, NULL, 0);
}

static pid_t parent;

static void expect(int fd, off_t at, const char* want, char* out, size_t size) {
  char got[128];
  probe(fd, at, got, sizeof got);
  if (strcmp(got, want) != 0 && out[0] == 0) snprintf(out, size, "byte %lld: %s, expected %s", (long long)at, got, want);
}

static void check_held(int fd, char* out, size_t size) {
  char w[4][64];
  for (int i = 0; i < 4; i++) {
    snprintf(w[i], sizeof w[i], "%s %lld %lld %d", held[i].type == F_WRLCK ? "WRITE" : "READ", (long long)held[i].start, (long long)held[i].len, parent);
  }
  const struct { off_t at; const char* want; } probes[] = {
      {0, w[0]}, {9, w[0]}, {10, "free"}, {19, "free"}, {20, w[1]}, {29, w[1]}, {30, "free"}, {99, "free"},
      {100, w[2]}, {199, w[2]}, {200, "free"}, {499, "free"}, {500, w[3]}, {1 << 30, w[3]},
  };
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) expect(fd, probes[i].at, probes[i].want, out, size);
  // A read lock is compatible with the read ranges.
  struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
  if (fcntl(fd, F_GETLK, &l) != 0 || l.l_type != F_UNLCK) snprintf(out + strlen(out), size - strlen(out), "; a read lock on 20-29 conflicts");
}

static void check_relocked(int fd, char* out, size_t size) {
  char w[64];
  snprintf(w, sizeof w, "WRITE 0 5 %d", parent);
  expect(fd, 0, w, out, size);
  expect(fd, 4, w, out, size);
  expect(fd, 5, "free", out, size);
  expect(fd, 9, "free", out, size);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  parent = getpid();
  int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
  zdtm_require(fd >= 0 && ftruncate(fd, 1000) == 0, "create data");
  for (unsigned i = 0; i < 4; i++) zdtm_require(set_lock(fd, held[i].type, held[i].start, held[i].len) == 0, "F_SETLK");
  zdtm_ready();
  zdtm_wait();
  char complaint[512];
  in_child(fd, check_held, complaint, sizeof complaint);
  if (complaint[0]) zdtm_fail("after restart: %s", complaint);
  if (set_lock(fd, F_UNLCK, 0, 10) != 0) zdtm_fail("unlock 0-9: %s", strerrorname_np(errno));
  if (set_lock(fd, F_WRLCK, 0, 5) != 0) zdtm_fail("relock 0-4: %s", strerrorname_np(errno));
  in_child(fd, check_relocked, complaint, sizeof complaint);
  if (complaint[0]) zdtm_fail("after unlock and relock: %s", complaint);
  zdtm_pass();
}

// zdtm: pass
// inotify instances (they were refused): one non-blocking, dup'd, watching a directory, a file
// once (IN_ONESHOT) and another file, with a watch descriptor given back between them (3, so the
// numbers are 1, 2 and 4); a second one, blocking, watching the directory for other events,
// shared with a child blocked reading it. After the restart the watch descriptors and masks are as
// they were, the next watch gets 5 as it would have, and events come under their numbers: a file
// created in the directory, the one-shot file written (then its watch is gone, IN_IGNORED), read
// through the dup; the directory's mode changed, read by the child through the shared instance.
#include "zdtm.h"

#include <sys/inotify.h>
#include <sys/stat.h>

/** Fails unless fdinfo of `fd` lists exactly the watches `wds` with `masks` (n of them). */
static void watches(int fd, const int* wds, const unsigned* masks, int n) {
  char path[64], text[4096];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE* f = fopen(path, "r");
  if (!f) zdtm_fail("cannot read %s", path);
  int seen = 0;
  while (fgets(text, sizeof text, f)) {
    unsigned wd = 0, mask = 0;
    if (sscanf(text, "inotify wd:%x ino:%*x sdev:%*x mask:%x", &wd, &mask) != 2) continue;
    int i = 0;
    while (i < n && wds[i] != (int)wd) i++;
    if (i == n || masks[i] != mask) zdtm_fail("fd %d has watch %u with mask %x", fd, wd, mask);
    seen++;
  }
  fclose(f);
  if (seen != n) zdtm_fail("fd %d has %d watches, not %d", fd, seen, n);
}

/** Reads the next event of `fd` (several may come in one read) and fails unless it is `mask` under `wd` (with `name`, if any). */
static void event(int fd, int wd, unsigned mask, const char* name) {
  static char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  static ssize_t have, at;
  static int of = -1;
  if (at >= have) {
    have = read(fd, buf, sizeof buf);
    at = 0;
    of = fd;
    if (have < (ssize_t)sizeof(struct inotify_event)) zdtm_fail("no event on fd %d (%s), wanted %x under %d", fd, strerrorname_np(errno), mask, wd);
  }
  if (of != fd) zdtm_fail("events left on fd %d", of);
  const struct inotify_event* e = (const struct inotify_event*)(buf + at);
  at += sizeof *e + e->len;
  if (e->wd != wd || e->mask != mask || (name && strcmp(e->name, name) != 0)) zdtm_fail("event %x under %d (%s), not %x under %d", e->mask, e->wd, e->len ? e->name : "", mask, wd);
}

/** A child that blocks reading one event from `fd` and exits with its watch descriptor (255: not IN_ATTRIB of a directory). */
static pid_t reading_child(int fd) {
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    const struct inotify_event* e = (const struct inotify_event*)buf;
    _exit(read(fd, buf, sizeof buf) >= (ssize_t)sizeof *e && e->mask == (IN_ATTRIB | IN_ISDIR) ? e->wd : 255);
  }
  return child;
}

static void make(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  zdtm_require(fd >= 0 && close(fd) == 0, path);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkdir("d", 0755) == 0, "mkdir");
  make("f1");
  make("f2");
  make("f3");
  int a = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  int b = inotify_init1(0);
  zdtm_require(a >= 0 && b >= 0, "inotify_init1");
  const int wds[] = {1, 2, 4};
  const unsigned masks[] = {IN_CREATE | IN_DELETE, IN_MODIFY | IN_ONESHOT, IN_ALL_EVENTS | IN_EXCL_UNLINK};
  zdtm_require(inotify_add_watch(a, "d", masks[0] | IN_ONLYDIR) == 1, "watch d");
  zdtm_require(inotify_add_watch(a, "f1", masks[1]) == 2, "watch f1");
  zdtm_require(inotify_add_watch(a, "f2", IN_OPEN) == 3 && inotify_rm_watch(a, 3) == 0, "watch f2 and remove it");
  zdtm_require(inotify_add_watch(a, "f3", masks[2]) == 4, "watch f3");
  zdtm_require(inotify_add_watch(b, "d", IN_ATTRIB) == 1, "watch d from b");
  char drain[4096];
  while (read(a, drain, sizeof drain) > 0) continue;  // the IN_IGNORED of watch 3
  int dup = fcntl(a, F_DUPFD, 40);
  zdtm_require(dup == 40, "dup");
  pid_t child = reading_child(b);
  zdtm_ready();
  zdtm_wait();
  watches(a, wds, masks, 3);
  const int bwd[] = {1};
  const unsigned bmask[] = {IN_ATTRIB};
  watches(b, bwd, bmask, 1);
  if (!(fcntl(a, F_GETFL) & O_NONBLOCK) || (fcntl(b, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if (!(fcntl(a, F_GETFD) & FD_CLOEXEC) || (fcntl(dup, F_GETFD) & FD_CLOEXEC)) zdtm_fail("the close-on-exec flags differ");
  if (read(a, drain, sizeof drain) != -1 || errno != EAGAIN) zdtm_fail("the restored instance has events queued");
  make("d/new");
  event(dup, 1, IN_CREATE, "new");
  int f1 = open("f1", O_WRONLY | O_CLOEXEC);
  if (f1 < 0 || write(f1, "x", 1) != 1) zdtm_fail("cannot write f1");
  event(a, 2, IN_MODIFY, NULL);
  event(a, 2, IN_IGNORED, NULL);
  if (chmod("d", 0700) != 0) zdtm_fail("chmod");
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 1) zdtm_fail("the child read watch %d through the shared instance, not 1", WEXITSTATUS(status));
  int next = inotify_add_watch(a, "f2", IN_OPEN);
  if (next != 5) zdtm_fail("a new watch got %d, not 5", next);
  zdtm_pass();
}

// zdtm: pass
// Character devices a program commonly holds, opened again by path at restart as /dev/null is:
// /dev/random and /dev/urandom read, /dev/full written (ENOSPC) and read (zeros), /dev/zero,
// with their open flags and close-on-exec flag as set. (/dev/tty needs a controlling terminal,
// which the tests run without: cr check and the restart say so, docs/restart.md.)
#include "zdtm.h"

struct dev {
  const char* path;
  int flags;
  int fd;
};

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  struct dev devs[] = {
      {"/dev/random", O_RDONLY | O_NONBLOCK, -1},
      {"/dev/urandom", O_RDONLY | O_CLOEXEC, -1},
      {"/dev/full", O_RDWR, -1},
      {"/dev/zero", O_RDONLY, -1},
  };
  const int n = sizeof devs / sizeof devs[0];
  for (int i = 0; i < n; i++) {
    devs[i].fd = open(devs[i].path, devs[i].flags);
    zdtm_require(devs[i].fd >= 0, devs[i].path);
  }
  zdtm_ready();
  zdtm_wait();
  char link[64], target[64];
  for (int i = 0; i < n; i++) {
    snprintf(link, sizeof link, "/proc/self/fd/%d", devs[i].fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    target[len < 0 ? 0 : len] = 0;
    if (strcmp(target, devs[i].path) != 0) zdtm_fail("fd %d is %s, not %s", devs[i].fd, target, devs[i].path);
    int want = devs[i].flags & (O_ACCMODE | O_NONBLOCK);
    if ((fcntl(devs[i].fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != want) zdtm_fail("%s has other status flags", devs[i].path);
    if (!!(fcntl(devs[i].fd, F_GETFD) & FD_CLOEXEC) != !!(devs[i].flags & O_CLOEXEC)) zdtm_fail("%s has another close-on-exec flag", devs[i].path);
  }
  char buf[16] = {1};
  if (read(devs[0].fd, buf, sizeof buf) != sizeof buf || read(devs[1].fd, buf, sizeof buf) != sizeof buf) zdtm_fail("the random devices do not read");
  if (write(devs[2].fd, buf, 1) != -1 || errno != ENOSPC) zdtm_fail("/dev/full takes a write");
  if (read(devs[2].fd, buf, sizeof buf) != sizeof buf || buf[0] != 0) zdtm_fail("/dev/full does not read zeros");
  memset(buf, 1, sizeof buf);
  if (read(devs[3].fd, buf, sizeof buf) != sizeof buf || buf[15] != 0) zdtm_fail("/dev/zero does not read zeros");
  zdtm_pass();
}

// zdtm: refused deleted-file
// A descriptor on a device node (/dev/null's numbers, made in the program's directory) that was
// unlinked since: the device is there, but not the node the descriptor names.
#include "zdtm.h"
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mknod("null", S_IFCHR | 0600, makedev(1, 3)) == 0, "mknod");
  int fd = open("null", O_RDWR);
  zdtm_require(fd >= 0 && unlink("null") == 0, "open, unlink");
  struct stat before;
  zdtm_require(fstat(fd, &before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (fstat(fd, &now) != 0 || now.st_ino != before.st_ino || now.st_rdev != makedev(1, 3)) zdtm_fail("fd is not the unlinked node");
  if (write(fd, "x", 1) != 1) zdtm_fail("write to the node: %s", strerrorname_np(errno));
  zdtm_pass();
}

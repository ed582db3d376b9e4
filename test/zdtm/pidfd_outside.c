// zdtm: refused pidfd
// A pidfd of a process outside the tree being saved (the program's parent): a restart cannot make
// a pidfd of a process it does not make. cr check names it, and a snapshot refuses.
#include "zdtm.h"

#include <sys/syscall.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = (int)syscall(SYS_pidfd_open, getppid(), 0);
  zdtm_require(fd >= 0, "pidfd_open");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

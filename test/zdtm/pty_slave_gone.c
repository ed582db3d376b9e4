// zdtm: refused device
// A pseudo-terminal slave whose master was closed: the kernel removes /dev/pts/N then, so the
// terminal the descriptor is on exists nowhere a restart could open it.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  zdtm_require(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "posix_openpt");
  const char* name = ptsname(master);
  int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
  zdtm_require(slave >= 0 && close(master) == 0, "open the slave, close the master");
  struct stat before;
  zdtm_require(fstat(slave, &before) == 0, "fstat");
  zdtm_ready();
  zdtm_wait();
  struct stat now;
  if (fstat(slave, &now) != 0 || now.st_rdev != before.st_rdev) zdtm_fail("fd is not the slave it was");
  zdtm_pass();
}

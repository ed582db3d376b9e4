// zdtm: refused fd-owner
// A pipe whose owner for SIGIO (F_SETOWN) is another process, the program's parent: a restart
// cannot make that process the owner again.
#include "zdtm.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int p[2];
  zdtm_require(pipe(p) == 0, "pipe");
  zdtm_require(fcntl(p[0], F_SETOWN, getppid()) == 0, "F_SETOWN");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

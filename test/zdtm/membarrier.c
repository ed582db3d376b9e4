// zdtm: pass
// MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: still registered after the restart (else the
// expedited barrier fails with EPERM).
#include "zdtm.h"
#include <linux/membarrier.h>
#include <sys/syscall.h>

#ifndef MEMBARRIER_CMD_GET_REGISTRATIONS
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9) // Linux 6.3; Debian 12's headers lack it
#endif

static long membarrier(int cmd) {
  return syscall(SYS_membarrier, cmd, 0, 0);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0, "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED");
  zdtm_ready();
  zdtm_wait();
  long got = membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS);
  if (got != MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) zdtm_fail("registrations %#lx, expected %#x", got, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) zdtm_fail("MEMBARRIER_CMD_PRIVATE_EXPEDITED: %s", strerrorname_np(errno));
  zdtm_pass();
}

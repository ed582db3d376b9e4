// zdtm: refused aio
// An AIO context (io_setup) maps its ring into the process as "/[aio] (deleted)", a shared
// writable mapping: it was refused as shared memory of a file. cr cannot save AIO contexts and
// says so by name.
#include "zdtm.h"

#include <linux/aio_abi.h>
#include <sys/syscall.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  aio_context_t ctx = 0;
  zdtm_require(syscall(SYS_io_setup, 16, &ctx) == 0, "io_setup");
  zdtm_ready();
  zdtm_wait();
  if (syscall(SYS_io_destroy, ctx) != 0) zdtm_fail("io_destroy: %s", strerrorname_np(errno));
  zdtm_pass();
}

// zdtm: refused memfd
// A memfd mapped writable, then sealed with F_SEAL_FUTURE_WRITE: the mapping made before the
// seal still writes it. A restart seals a memfd before it maps it (its data goes in first), and
// the kernel refuses a writable mapping of a sealed memfd: `cr check` names the mapping.
#include "zdtm.h"

#include <sys/mman.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = memfd_create("zdtm-future-write", MFD_ALLOW_SEALING);
  zdtm_require(fd >= 0 && ftruncate(fd, 4096) == 0, "memfd");
  char* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(m != MAP_FAILED && fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0, "seal");
  strcpy(m, "still writable");
  zdtm_ready();
  zdtm_wait();
  if (strcmp(m, "still writable") != 0) zdtm_fail("the mapping differs");
  zdtm_pass();
}

// zdtm: refused secretmem
// memfd_secret memory (Linux 5.14): no other process, cr included, can read its pages. It was
// refused as a "deleted file" someone should keep a link to; cr now names it for what it is.
#include "zdtm.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = syscall(SYS_memfd_secret, 0);
  zdtm_require(fd >= 0 && ftruncate(fd, 4096) == 0, "memfd_secret");
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(p != MAP_FAILED, "mmap of the memfd_secret");
  close(fd);
  strcpy(p, "secret");
  zdtm_ready();
  zdtm_wait();
  if (strcmp(p, "secret") != 0) zdtm_fail("the secret memory changed: \"%.16s\"", p);
  zdtm_pass();
}

// zdtm: pass
// A shared writable mapping of a regular file (MAP_SHARED, PROT_WRITE): it was refused. After the
// restart the mapping shows the file's contents (what was written through it before the
// checkpoint), and a write through it reaches the file. A read-only shared mapping of the file
// opened for writing may still be made writable (smaps "mw"), one of a read-only open may not.
#include "zdtm.h"

#include <sys/mman.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t size = 3 * 4096;
  int fd = open("shared.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  zdtm_require(fd >= 0 && ftruncate(fd, size) == 0, "create shared.dat");
  char* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(p != MAP_FAILED, "mmap MAP_SHARED");
  char* later = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);  // the mappings alone hold the file
  int ro = open("shared.dat", O_RDONLY | O_CLOEXEC);
  char* never = ro < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
  zdtm_require(later != MAP_FAILED && never != MAP_FAILED, "mmap MAP_SHARED PROT_READ");
  close(ro);
  memset(p, 'f', size);
  strcpy(p + 4096, "written through the mapping");
  zdtm_require(msync(p, size, MS_SYNC) == 0, "msync");
  zdtm_ready();
  zdtm_wait();
  if (strcmp(p + 4096, "written through the mapping") != 0 || p[0] != 'f' || p[size - 1] != 'f') zdtm_fail("the mapping does not show the file's bytes");
  if (mprotect(later, 4096, PROT_READ | PROT_WRITE) != 0) zdtm_fail("mprotect of the read-only mapping of the file opened for writing: %s", strerrorname_np(errno));
  if (mprotect(never, 4096, PROT_READ | PROT_WRITE) == 0 || errno != EACCES) zdtm_fail("the mapping of a read-only open became writable");
  strcpy(p + 2 * 4096, "after the restart");
  if (msync(p, size, MS_SYNC) != 0) zdtm_fail("msync: %s", strerrorname_np(errno));
  fd = open("shared.dat", O_RDONLY | O_CLOEXEC);
  char got[32] = "";
  if (fd < 0 || pread(fd, got, 18, 2 * 4096) != 18) zdtm_fail("reading shared.dat: %s", strerrorname_np(errno));
  if (strcmp(got, "after the restart") != 0) zdtm_fail("the file has \"%s\" where the mapping wrote \"after the restart\"", got);
  zdtm_pass();
}

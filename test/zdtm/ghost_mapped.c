// zdtm: pass
// Deleted files held only by mappings: one mapped MAP_SHARED twice and written through the first
// mapping, one mapped read-only MAP_SHARED from a read-only open, one mapped MAP_PRIVATE with a
// page written (copied on write) and one left as the file has it. After the restart the shared
// mappings show what was written and still share the file (a write through one is seen through
// the other), the read-only one cannot be made writable, and the private one has its own page and
// the file's. A child that inherited the shared mapping still shares the file with its parent.
#include "zdtm.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define PAGE 4096

/** A file of `pages` pages of `fill`, unlinked, mapped `flags` with `prot` from an open of `mode`. */
static char* mapped_deleted(const char* name, int pages, char fill, int mode, int prot, int flags) {
  int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  zdtm_require(fd >= 0 && ftruncate(fd, pages * PAGE) == 0, "create");
  char* buf = malloc(pages * PAGE);
  memset(buf, fill, pages * PAGE);
  zdtm_require(write(fd, buf, pages * PAGE) == pages * PAGE, "write");
  free(buf);
  int m = mode == O_RDWR ? fd : open(name, mode | O_CLOEXEC);
  char* p = mmap(NULL, pages * PAGE, prot, flags, m, 0);
  zdtm_require(p != MAP_FAILED && unlink(name) == 0, "mmap, unlink");
  close(fd);
  if (m != fd) close(m);
  return p;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char* shared = mapped_deleted("shared.dat", 3, 's', O_RDWR, PROT_READ | PROT_WRITE, MAP_SHARED);
  int fd = -1;
  char self[64];
  snprintf(self, sizeof self, "/proc/self/map_files/%lx-%lx", (unsigned long)shared, (unsigned long)shared + 3 * PAGE);
  fd = open(self, O_RDWR | O_CLOEXEC);  // a second mapping of the same deleted file
  char* again = fd < 0 ? MAP_FAILED : mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(again != MAP_FAILED, "map the shared file again");
  close(fd);
  char* readonly = mapped_deleted("readonly.dat", 1, 'r', O_RDONLY, PROT_READ, MAP_SHARED);
  char* private = mapped_deleted("private.dat", 2, 'p', O_RDWR, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  strcpy(shared + PAGE, "written through the mapping");
  strcpy(private, "my own copy");
  int go[2];
  zdtm_require(pipe(go) == 0, "pipe");
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    strcpy(shared + 2 * PAGE + 100, "from the child");
    _exit(0);
  }
  zdtm_ready();
  zdtm_wait();
  if (strcmp(again + PAGE, "written through the mapping") != 0 || again[0] != 's' || again[3 * PAGE - 1] != 's') zdtm_fail("the second shared mapping does not show the file's bytes");
  strcpy(shared + 2 * PAGE, "after the restart");
  if (strcmp(again + 2 * PAGE, "after the restart") != 0) zdtm_fail("the shared mappings no longer share the file");
  int status = 0;
  if (write(go[1], "g", 1) != 1 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("the child did not write");
  if (strcmp(again + 2 * PAGE + 100, "from the child") != 0) zdtm_fail("the child's mapping no longer shares the file");
  if (readonly[0] != 'r' || readonly[PAGE - 1] != 'r') zdtm_fail("the read-only mapping does not show its file");
  if (mprotect(readonly, PAGE, PROT_READ | PROT_WRITE) == 0 || errno != EACCES) zdtm_fail("the mapping of a read-only open became writable");
  if (strcmp(private, "my own copy") != 0 || private[PAGE] != 'p' || private[2 * PAGE - 1] != 'p') zdtm_fail("the private mapping lost its page or the file's");
  zdtm_pass();
}

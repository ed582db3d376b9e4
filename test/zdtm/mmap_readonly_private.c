// zdtm: pass
// Read-only private mappings, accounted or not (smaps VmFlags "ac": private memory that is or
// was writable). The restart gave every one "ac" (it made them writable to fill them), and
// could not fill one without. After the restart:
//   - a never-writable file mapping whose page the program changed through /proc/self/mem (a
//     COW'd page, as a debugger's breakpoint makes) keeps that page and stays unaccounted;
//   - a file mapping made read-only after a write (relocated data) keeps its page and "ac";
//   - a read-only anonymous mapping stays unaccounted.
#include "vmflags.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t page = 4096;
  int fd = open("data", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  char file[2 * 4096];
  memset(file, 'f', sizeof file);
  zdtm_require(fd >= 0 && write(fd, file, sizeof file) == (ssize_t)sizeof file, "create data");
  char* never = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE, fd, 0);
  char* once = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  char* anon = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(never != MAP_FAILED && once != MAP_FAILED && anon != MAP_FAILED, "mmap");
  close(fd);
  int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  zdtm_require(mem >= 0 && pwrite(mem, "debugger", 8, (off_t)(uintptr_t)(never + page)) == 8, "write through /proc/self/mem");
  close(mem);
  memcpy(once + page, "relocated", 9);
  zdtm_require(mprotect(once, 2 * page, PROT_READ) == 0, "mprotect");
  zdtm_require(anon[0] == 0, "read the anonymous page");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(never, "ac", 0, "the never-writable file mapping");
  expect_vmflag(once, "ac", 1, "the file mapping made read-only");
  expect_vmflag(anon, "ac", 0, "the read-only anonymous mapping");
  if (memcmp(never + page, "debugger", 8) != 0 || never[0] != 'f') zdtm_fail("the never-writable mapping lost its bytes: \"%.8s\"", never + page);
  if (memcmp(once + page, "relocated", 9) != 0 || once[0] != 'f') zdtm_fail("the mapping made read-only lost its bytes: \"%.9s\"", once + page);
  if (anon[0] != 0) zdtm_fail("the anonymous page is %d", anon[0]);
  if (!faults(never, 1) || !faults(once, 1) || !faults(anon, 1)) zdtm_fail("a read-only mapping became writable");
  zdtm_pass();
}

// zdtm: pass
// memfds (they were refused): one named "zdtm-memfd", sealed against shrinking, held open at an
// offset, mapped shared twice (the second mapping from page 2 on), partly never mapped (written
// by pwrite only), and mapped privately with a page copied on write; another sealed against
// writes (F_SEAL_WRITE) after its table went in, mapped read-only, its descriptor closed. After
// the restart the names, seals, offset and every byte are as they were, the mappings and the
// descriptor are one file (a write through one shows through the others), and the write seal
// still holds.
#include "zdtm.h"

#include <sys/mman.h>

#define PAGES 16
#define MAPPED 8

static unsigned tag(int page) { return 0x6d000000u | (unsigned)page * 2654435761u >> 8; }

static void fill(unsigned* words, int page) {
  for (size_t w = 0; w < 4096 / sizeof(unsigned); w++) words[w] = tag(page) + (unsigned)w;
}

static int holds(const unsigned* words, int page) {
  for (size_t w = 0; w < 4096 / sizeof(unsigned); w++)
    if (words[w] != tag(page) + (unsigned)w) return 0;
  return 1;
}

static void linked(int fd, const char* want) {
  char path[64], link[128] = {0};
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (readlink(path, link, sizeof link - 1) < 0 || strcmp(link, want) != 0) zdtm_fail("fd %d is %s, not %s", fd, link, want);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = memfd_create("zdtm-memfd", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  zdtm_require(fd >= 0 && ftruncate(fd, PAGES * 4096) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "memfd");
  char* a = mmap(NULL, MAPPED * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  char* b = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * 4096);
  char* copy = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  zdtm_require(a != MAP_FAILED && b != MAP_FAILED && copy != MAP_FAILED, "mmap the memfd");
  for (int p = 0; p < MAPPED; p += 2) fill((unsigned*)(a + p * 4096), p);
  unsigned page[1024];
  fill(page, 12);
  zdtm_require(pwrite(fd, page, sizeof page, 12 * 4096) == sizeof page, "pwrite the part never mapped");
  strcpy(copy + 4096, "a private copy");
  zdtm_require(lseek(fd, 5000, SEEK_SET) == 5000, "lseek");
  int sealed = memfd_create("zdtm-sealed", MFD_ALLOW_SEALING);
  fill(page, 99);
  zdtm_require(sealed >= 0 && write(sealed, page, sizeof page) == sizeof page && fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) == 0, "sealed memfd");
  unsigned* table = mmap(NULL, 4096, PROT_READ, MAP_SHARED, sealed, 0);
  zdtm_require(table != MAP_FAILED, "mmap the sealed memfd");
  close(sealed);
  zdtm_ready();
  zdtm_wait();
  for (int p = 0; p < MAPPED; p++)
    if (p % 2 == 0 ? !holds((unsigned*)(a + p * 4096), p) : a[p * 4096] != 0) zdtm_fail("page %d of the memfd differs", p);
  if (pread(fd, page, sizeof page, 12 * 4096) != sizeof page || !holds(page, 12)) zdtm_fail("the page never mapped differs");
  if (strcmp(copy + 4096, "a private copy") != 0 || !holds((unsigned*)copy, 0)) zdtm_fail("the private mapping differs");
  linked(fd, "/memfd:zdtm-memfd (deleted)");
  if (lseek(fd, 0, SEEK_CUR) != 5000) zdtm_fail("the offset is %ld, not 5000", (long)lseek(fd, 0, SEEK_CUR));
  if (fcntl(fd, F_GET_SEALS) != F_SEAL_SHRINK) zdtm_fail("the memfd's seals are %d", fcntl(fd, F_GET_SEALS));
  if (!holds(table, 99)) zdtm_fail("the sealed memfd differs");
  b[0] = 'b';
  a[3 * 4096] = 'a';
  char got = 0;
  if (a[2 * 4096] != 'b' || b[4096] != 'a' || pread(fd, &got, 1, 2 * 4096) != 1 || got != 'b') zdtm_fail("the mappings and the descriptor are not one file");
  if (pwrite(fd, "d", 1, 6 * 4096) != 1 || a[6 * 4096] != 'd') zdtm_fail("a write through the descriptor does not show in the mapping");
  if (copy[2 * 4096] != 'b') zdtm_fail("the private mapping's pages not copied are not the file's");
  if (mprotect(table, 4096, PROT_READ | PROT_WRITE) == 0) zdtm_fail("the write-sealed memfd's mapping could be made writable");
  if (ftruncate(fd, 4096) == 0) zdtm_fail("the memfd could be shrunk");
  zdtm_pass();
}

// zdtm: pass
// Shared anonymous memory held by this process alone (it was refused): a MAP_SHARED|MAP_ANONYMOUS
// object split into three mappings by mprotect, with pages dropped from the page tables by
// MADV_DONTNEED (a shared page keeps its bytes) and pages never written; the same object mapped
// a second time (through /proc/self/map_files); and a shared mapping of /dev/zero. After the
// restart every byte is as it was, untouched pages read zero, and a write through one mapping
// of the object shows through the other: it is still one object.
#include "zdtm.h"

#include <sys/mman.h>

#define PAGES 64
#define WRITTEN 48

static unsigned page_tag(int page) { return 0x5a000000u | (unsigned)page * 2654435761u >> 8; }

static void fill(char* base, int first, int count) {
  for (int p = first; p < first + count; p++)
    for (size_t w = 0; w < 4096 / sizeof(unsigned); w++) ((unsigned*)(base + (size_t)p * 4096))[w] = page_tag(p) + (unsigned)w;
}

static int holds(const char* base, int page, unsigned (*tag)(int)) {
  for (size_t w = 0; w < 4096 / sizeof(unsigned); w++)
    if (((const unsigned*)(base + (size_t)page * 4096))[w] != (tag ? tag(page) + (unsigned)w : 0)) return 0;
  return 1;
}

/** Inode of the mapping that contains `p`, from /proc/self/maps (0 if none). */
static unsigned long inode_of(const void* p) {
  FILE* maps = fopen("/proc/self/maps", "r");
  char line[512];
  unsigned long found = 0;
  while (maps && fgets(line, sizeof(line), maps)) {
    unsigned long start, end, inode;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &start, &end, &inode) == 3 && (unsigned long)p >= start && (unsigned long)p < end) found = inode;
  }
  if (maps) fclose(maps);
  return found;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  size_t size = PAGES * 4096;
  char* a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  zdtm_require(a != MAP_FAILED, "mmap MAP_SHARED|MAP_ANONYMOUS");
  fill(a, 0, WRITTEN);
  zdtm_require(mprotect(a + 16 * 4096, 16 * 4096, PROT_READ) == 0, "mprotect");
  zdtm_require(madvise(a + 40 * 4096, 4 * 4096, MADV_DONTNEED) == 0, "madvise MADV_DONTNEED");
  char path[128];
  snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)a, (unsigned long)(a + 16 * 4096));
  int fd = open(path, O_RDWR | O_CLOEXEC);
  zdtm_require(fd >= 0, "open map_files of the object");
  char* second = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  zdtm_require(second != MAP_FAILED, "mmap the object a second time");
  fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
  char* zero = fd < 0 ? MAP_FAILED : mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  zdtm_require(zero != MAP_FAILED, "mmap /dev/zero MAP_SHARED");
  close(fd);
  strcpy(zero + 3 * 4096, "shared /dev/zero page");
  unsigned long inode = inode_of(a);
  zdtm_ready();
  zdtm_wait();
  for (int p = 0; p < PAGES; p++)
    if (!holds(a, p, p < WRITTEN ? page_tag : NULL)) zdtm_fail("page %d of the shared object differs", p);
  if (inode_of(a + 20 * 4096) != inode_of(a) || inode_of(second) != inode_of(a)) zdtm_fail("the mappings are not of one object (inodes %lu, %lu, %lu)", inode_of(a), inode_of(a + 20 * 4096), inode_of(second));
  if (inode == 0 || inode_of(zero) == inode_of(a)) zdtm_fail("the /dev/zero mapping is not an object of its own");
  a[50 * 4096] = 'a';
  second[5 * 4096] = 's';
  if (second[50 * 4096] != 'a' || a[5 * 4096] != 's') zdtm_fail("a write through one mapping does not show through the other");
  if (mprotect(a + 16 * 4096, 4096, PROT_READ | PROT_WRITE) != 0) zdtm_fail("the read-only part cannot be made writable again: %s", strerrorname_np(errno));
  if (strcmp(zero + 3 * 4096, "shared /dev/zero page") != 0 || zero[0] != 0) zdtm_fail("the /dev/zero mapping differs");
  zdtm_pass();
}

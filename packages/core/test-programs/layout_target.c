/*
 * A target for the page planner's property test. It prints "pid N" and "ready {}", then for each
 * "layout SEED" line on stdin replaces everything in its 48 MiB arena by a random layout made
 * from SEED, and answers with the pages it wrote that still hold what it wrote:
 * "written A-B A-B ..." (hex page-aligned addresses, end exclusive).
 *
 * A layout is built the ways programs shape their memory: mappings placed apart or adjacent
 * (the kernel merges compatible neighbours), anonymous or private file mappings of FILE, read
 * only or writable, split by mprotect, MAP_FIXED over a part, munmap of a part, grown and
 * shrunk in place by mremap, MADV_DONTDUMP, MADV_HUGEPAGE (2 MiB-aligned: transparent huge
 * pages that later changes split), MADV_DONTNEED; pages written in runs, scattered, or every
 * other one (hundreds of separate runs in one mapping), read (the zero page, page-cache pages);
 * and, in half the layouts, userfaultfd write-protection in WP_ASYNC mode registered by the
 * process itself, as cr's write-protect tracker does, before part of the writes.
 *
 *   layout_target FILE     FILE: at least 64 pages, mapped privately
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../native/src/kernel_abi.h" /* userfaultfd features newer than the system headers */

#define PAGE 4096UL
#define ARENA_PAGES 12288UL /* 48 MiB */
#define HUGE (2UL << 20)
#define FILE_PAGES 64

static uint8_t *arena;
static uint8_t written[ARENA_PAGES]; /* 1: the page holds what this program wrote */
static int file_fd;
static uint64_t rng;

static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static unsigned below(unsigned n) { return (unsigned)(next() % n); }

static void die(const char *what) {
  perror(what);
  exit(2);
}

static uint8_t *page_at(unsigned page) { return arena + page * PAGE; }

static void forget(unsigned first, unsigned pages) {
  for (unsigned p = first; p < first + pages && p < ARENA_PAGES; p++) written[p] = 0;
}

static void write_pages(unsigned first, unsigned pages, unsigned stride) {
  for (unsigned p = first; p < first + pages; p += stride) {
    volatile uint8_t *at = page_at(p);
    *at = (uint8_t)(p | 1);
    written[p] = 1;
  }
}

static void read_pages(unsigned first, unsigned pages) {
  for (unsigned p = first; p < first + pages; p++) (void)*(volatile uint8_t *)page_at(p);
}

/* Which arena pages are mapped, and how: from /proc/self/maps. */
static uint8_t mapped[ARENA_PAGES]; /* 0 none, 1 writable, 2 read only, 3 neither */

static void read_mapped(void) {
  memset(mapped, 0, sizeof mapped);
  FILE *maps = fopen("/proc/self/maps", "r");
  if (!maps) die("/proc/self/maps");
  char line[512];
  uintptr_t lo = (uintptr_t)arena, hi = lo + ARENA_PAGES * PAGE;
  while (fgets(line, sizeof line, maps)) {
    uintptr_t start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || end <= lo || start >= hi) continue;
    uint8_t kind = perms[1] == 'w' ? 1 : perms[0] == 'r' ? 2 : 3; /* 3: PROT_NONE */
    for (uintptr_t a = start < lo ? lo : start; a < end && a < hi; a += PAGE) mapped[(a - lo) / PAGE] = kind;
  }
  fclose(maps);
}

/* A run of `pages` pages from `first` that are all mapped with `kind` (0 when none). */
static unsigned usable(unsigned first, unsigned pages, uint8_t kind) {
  unsigned n = 0;
  while (n < pages && first + n < ARENA_PAGES && mapped[first + n] == kind) n++;
  return n;
}

static void map_one(void) {
  unsigned pages = 1 + below(below(4) == 0 ? 2048 : 96);
  unsigned first = below(ARENA_PAGES - pages);
  int huge = below(5) == 0 && pages >= 512;
  if (huge) first = (unsigned)(((uintptr_t)page_at(first) + HUGE - 1) / HUGE * HUGE - (uintptr_t)arena) / PAGE;
  if (first + pages > ARENA_PAGES) return;
  int prot = below(5) == 0 ? PROT_READ : PROT_READ | PROT_WRITE;
  int file = below(4) == 0;
  if (file && pages > FILE_PAGES) pages = FILE_PAGES;
  off_t offset = file ? (off_t)below(FILE_PAGES - pages + 1) * PAGE : 0;
  void *at = mmap(page_at(first), pages * PAGE, prot, MAP_PRIVATE | MAP_FIXED | (file ? 0 : MAP_ANONYMOUS), file ? file_fd : -1, offset);
  if (at == MAP_FAILED) die("mmap");
  forget(first, pages);
  if (huge) madvise(at, pages * PAGE, MADV_HUGEPAGE);
  if (below(6) == 0) madvise(at, pages * PAGE, MADV_DONTDUMP);
  if (below(8) == 0) madvise(at, pages * PAGE, MADV_NOHUGEPAGE);
}

/* Write-protects [start, end) as cr's tracker arms it: a PAGEMAP_SCAN that matches written pages
 * and protects them, leaving markers on empty pages. */
static void write_protect(uintptr_t start, uintptr_t end) {
  static int pagemap = -1;
  if (pagemap < 0 && (pagemap = open("/proc/self/pagemap", O_RDONLY)) < 0) die("/proc/self/pagemap");
  struct page_region regions[64];
  for (uintptr_t at = start; at < end;) {
    struct pm_scan_arg arg = {.size = sizeof arg, .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, .start = at, .end = end,
                              .vec = (uintptr_t)regions, .vec_len = 64, .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN};
    if (ioctl(pagemap, PAGEMAP_SCAN, &arg) < 0) die("PAGEMAP_SCAN");
    if (arg.walk_end <= at) break;
    at = arg.walk_end;
  }
}

/* userfaultfd write-protection over every writable anonymous mapping of the arena. */
static int uffd = -1;

static void register_wp(void) {
  uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (uffd < 0) return; /* no userfaultfd here: the layout is planned without markers */
  struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};
  if (ioctl(uffd, UFFDIO_API, &api) == 0) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t lo = (uintptr_t)arena, hi = lo + ARENA_PAGES * PAGE;
    while (maps && fgets(line, sizeof line, maps)) {
      uintptr_t start, end;
      char perms[5];
      unsigned long offset, inode;
      if (sscanf(line, "%lx-%lx %4s %lx %*s %lu", &start, &end, perms, &offset, &inode) != 5) continue;
      if (start < lo || end > hi || perms[1] != 'w' || inode != 0) continue;
      struct uffdio_register reg = {.range = {start, end - start}, .mode = UFFDIO_REGISTER_MODE_WP};
      if (ioctl(uffd, UFFDIO_REGISTER, &reg) == 0) write_protect(start, end); /* refused: not tracked */
    }
    if (maps) fclose(maps);
  }
}

static void change_one(void) {
  read_mapped();
  unsigned first = below(ARENA_PAGES), pages = 1 + below(below(3) == 0 ? 1024 : 64);
  switch (below(9)) {
    case 0: case 1: case 2: { /* write: a run, scattered pages, or every other page */
      unsigned n = usable(first, pages, 1);
      unsigned stride = below(3) == 0 ? 2 : below(4) == 0 ? 1 + below(16) : 1;
      write_pages(first, n, stride);
      break;
    }
    case 3: /* read: zero pages, page-cache pages */
      read_pages(first, usable(first, pages, 1) + usable(first, pages, 2));
      break;
    case 4: { /* mprotect a part: splits the mapping */
      unsigned n = usable(first, pages, mapped[first]);
      if (n && mapped[first] && mprotect(page_at(first), n * PAGE, below(2) ? PROT_READ : PROT_READ | PROT_WRITE) != 0) die("mprotect");
      break;
    }
    case 5: /* munmap a part */
      munmap(page_at(first), (first + pages > ARENA_PAGES ? ARENA_PAGES - first : pages) * PAGE);
      forget(first, pages);
      break;
    case 6: { /* MADV_DONTNEED a part */
      unsigned n = usable(first, pages, mapped[first]);
      if (n && mapped[first]) madvise(page_at(first), n * PAGE, MADV_DONTNEED);
      forget(first, n);
      break;
    }
    case 7: { /* mremap in place: grow into free space or shrink */
      unsigned n = usable(first, pages, mapped[first]);
      if (!n || !mapped[first]) break;
      unsigned to = below(2) ? n / 2 : n + below(64);
      if (to == 0 || first + to > ARENA_PAGES) break;
      if (mremap(page_at(first), n * PAGE, to * PAGE, 0) != MAP_FAILED && to < n) forget(first + to, n - to);
      break;
    }
    default:
      map_one();
  }
}

static void layout(uint64_t seed) {
  rng = seed * 0x9e3779b97f4a7c15ULL | 1;
  if (mmap(arena, ARENA_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) die("mmap arena");
  if (munmap(arena, ARENA_PAGES * PAGE) != 0) die("munmap arena");
  memset(written, 0, sizeof written);
  if (uffd >= 0) close(uffd); /* open while a layout lives: closing it unregisters */
  uffd = -1;
  unsigned maps = 1 + below(8), changes = below(12);
  for (unsigned i = 0; i < maps; i++) map_one();
  for (unsigned i = 0; i < changes / 2; i++) change_one();
  if (below(2)) register_wp();
  for (unsigned i = changes / 2; i < changes; i++) change_one();
}

static void report(void) {
  printf("written");
  for (unsigned p = 0; p < ARENA_PAGES;) {
    if (!written[p]) {
      p++;
      continue;
    }
    unsigned end = p;
    while (end < ARENA_PAGES && written[end]) end++;
    printf(" %lx-%lx", (unsigned long)(uintptr_t)page_at(p), (unsigned long)(uintptr_t)page_at(end));
    p = end;
  }
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: layout_target FILE\n");
    return 2;
  }
  file_fd = open(argv[1], O_RDONLY);
  if (file_fd < 0) die(argv[1]);
  /* The arena: a 2 MiB-aligned hole that nothing else of the process will map into. */
  uint8_t *reserved = mmap(NULL, ARENA_PAGES * PAGE + HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) die("mmap");
  arena = (uint8_t *)(((uintptr_t)reserved + HUGE - 1) / HUGE * HUGE);
  printf("pid %d\nready {\"arena\":\"%lx\"}\n", getpid(), (unsigned long)(uintptr_t)arena);
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    unsigned long long seed;
    if (sscanf(line, "layout %llu", &seed) == 1) {
      layout(seed);
      report();
    } else if (strncmp(line, "ping", 4) == 0) {
      printf("pong\n");
      fflush(stdout);
    }
  }
  return 0;
}

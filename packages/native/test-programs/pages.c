// Memory target for the pagemap and write-tracking tests. Maps AREA_PAGES anonymous pages,
// fills the first half with a known pattern (page i, byte j = (i * 7 + j) & 0xff) and
// never touches the second half. Prints "ready <area> <readonly page>" and then obeys
// one command per stdin line, answering "ok":
//   w N    write one byte into page N
//   r N    read(2) from a pipe into page N (the kernel writes it)
//   t N    a second thread writes page N
//   big M  map and fill M MiB, answer "ok <address>"
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define AREA_PAGES 64

static uint8_t *area;
static long page_size;
static int to_thread[2], from_thread[2];

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void *writer_thread(void *arg) {
  (void)arg;
  long n;
  while (read(to_thread[0], &n, sizeof n) == sizeof n) {
    area[n * page_size + 1] = 0x5a;
    if (write(from_thread[1], &n, sizeof n) != sizeof n) die("write");
  }
  return NULL;
}

static void kernel_write(long n) {
  int p[2];
  char data[64];
  memset(data, 'k', sizeof data);
  if (pipe(p) != 0 || write(p[1], data, sizeof data) != sizeof data) die("pipe");
  if (read(p[0], area + n * page_size + 100, sizeof data) != sizeof data) die("read");
  close(p[0]);
  close(p[1]);
}

static void thread_write(long n) {
  if (write(to_thread[1], &n, sizeof n) != sizeof n || read(from_thread[0], &n, sizeof n) != sizeof n) die("thread");
}

static void big(long mib) {
  size_t size = (size_t)mib << 20;
  uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  for (size_t i = 0; i < size; i += page_size) p[i] = (uint8_t)(i / page_size) | 1;
  printf("ok %p\n", (void *)p);
}

int main(void) {
  page_size = sysconf(_SC_PAGESIZE);
  area = mmap(NULL, AREA_PAGES * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t *ro = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED || ro == MAP_FAILED) die("mmap");
  for (long i = 0; i < AREA_PAGES / 2; i++)
    for (long j = 0; j < page_size; j++) area[i * page_size + j] = (uint8_t)((i * 7 + j) & 0xff);
  pthread_t t;
  if (pipe(to_thread) != 0 || pipe(from_thread) != 0 || pthread_create(&t, NULL, writer_thread, NULL) != 0) die("setup");
  printf("ready %p %p\n", (void *)area, (void *)ro);
  fflush(stdout);
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    long n = atol(line + 2);
    if (line[0] == 'w') area[n * page_size] = 0xa5;
    if (line[0] == 'r') kernel_write(n);
    if (line[0] == 't') thread_write(n);
    if (line[0] == 'b') big(atol(line + 4));
    else printf("ok\n");
    fflush(stdout);
  }
  return 0;
}

// zdtm: pass
// Pipe capacities (F_SETPIPE_SZ; once lost at restart: every pipe came back with 64 KiB): one
// grown to pipe-max-size (1 MiB), one shrunk to a page and full, one of 32 KiB whose ends are
// duplicated, a FIFO of 128 KiB holding bytes, and a default one. After the restart each has its
// capacity, through every fd, and the full one still holds its page.
#include "zdtm.h"
#include <sys/stat.h>

static void expect_capacity(int fd, int size, const char* what) {
  int got = fcntl(fd, F_GETPIPE_SZ);
  if (got != size) zdtm_fail("%s (fd %d): capacity %d, expected %d", what, fd, got, size);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int grown[2], full[2], shared[2], plain[2];
  zdtm_require(pipe(grown) == 0 && pipe(full) == 0 && pipe(shared) == 0 && pipe(plain) == 0, "pipe");
  zdtm_require(fcntl(grown[1], F_SETPIPE_SZ, 1 << 20) == 1 << 20, "F_SETPIPE_SZ 1 MiB");
  zdtm_require(fcntl(full[1], F_SETPIPE_SZ, 4096) == 4096, "F_SETPIPE_SZ 4096");
  zdtm_require(fcntl(shared[0], F_SETPIPE_SZ, 32768) == 32768, "F_SETPIPE_SZ 32 KiB");
  unsigned char page[4096];
  for (size_t i = 0; i < sizeof page; i++) page[i] = (unsigned char)(i * 13);
  zdtm_require(write(full[1], page, sizeof page) == sizeof page, "fill the one-page pipe");
  int shared_read = dup(shared[0]), shared_write = dup2(shared[1], 50);
  zdtm_require(shared_read >= 0 && shared_write == 50, "dup");
  zdtm_require(mkfifo("fifo", 0600) == 0, "mkfifo");
  int fifo_read = open("fifo", O_RDONLY | O_NONBLOCK), fifo_write = open("fifo", O_WRONLY);
  zdtm_require(fifo_read >= 0 && fifo_write >= 0, "open fifo");
  zdtm_require(fcntl(fifo_write, F_SETPIPE_SZ, 131072) == 131072, "F_SETPIPE_SZ fifo");
  zdtm_require(write(fifo_write, page, 1000) == 1000, "write fifo");
  zdtm_ready();
  zdtm_wait();
  expect_capacity(grown[0], 1 << 20, "grown pipe");
  expect_capacity(full[0], 4096, "full pipe");
  int fds[] = {shared[0], shared[1], shared_read, shared_write};
  for (unsigned i = 0; i < 4; i++) expect_capacity(fds[i], 32768, "pipe with duplicated ends");
  expect_capacity(fifo_read, 131072, "FIFO");
  expect_capacity(plain[1], 65536, "default pipe");
  unsigned char got[sizeof page];
  if (read(full[0], got, sizeof got) != sizeof got || memcmp(got, page, sizeof page) != 0) zdtm_fail("full pipe: not the page it held");
  zdtm_pass();
}

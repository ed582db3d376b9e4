// zdtm: pass
// Bytes buffered in pipes inside the process (once lost at restart: a restored reader blocked
// forever): a few bytes in a default pipe, 200000 in one grown to 256 KiB. After the restart each
// read end gives back exactly those bytes, and then nothing more.
#include "zdtm.h"

static void read_back(int fd, const unsigned char* sent, size_t n, const char* what) {
  unsigned char* got = malloc(n);
  for (size_t done = 0; done < n;) {
    ssize_t r = read(fd, got + done, n - done);
    if (r <= 0) zdtm_fail("pipe %s: read after %zu of %zu bytes: %s", what, done, n, r == 0 ? "EOF" : strerrorname_np(errno));
    done += r;
  }
  if (memcmp(got, sent, n) != 0) zdtm_fail("pipe %s: other bytes than were written", what);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  char extra;
  if (read(fd, &extra, 1) != -1 || errno != EAGAIN) zdtm_fail("pipe %s: more bytes than were written", what);
  free(got);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int small[2], big[2];
  zdtm_require(pipe(small) == 0 && pipe(big) == 0, "pipe");
  zdtm_require(fcntl(big[1], F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024, "F_SETPIPE_SZ");
  static unsigned char bytes[200000];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(i * 7 + i / 251);
  zdtm_require(write(small[1], "hello", 5) == 5, "write small");
  zdtm_require(write(big[1], bytes, sizeof bytes) == sizeof bytes, "write big");
  zdtm_ready();
  zdtm_wait();
  read_back(small[0], (const unsigned char*)"hello", 5, "small");
  read_back(big[0], bytes, sizeof bytes, "big");
  zdtm_pass();
}

// zdtm: pass
// Bytes buffered in a FIFO the process has open at both ends (once lost at restart). After the
// restart the read end gives back exactly those bytes, and then nothing more.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkfifo("fifo", 0600) == 0, "mkfifo");
  int reader = open("fifo", O_RDONLY | O_NONBLOCK);
  int writer = open("fifo", O_WRONLY);
  zdtm_require(reader >= 0 && writer >= 0, "open fifo");
  zdtm_require(fcntl(reader, F_SETFL, 0) == 0, "clear O_NONBLOCK");
  unsigned char sent[3000];
  for (size_t i = 0; i < sizeof sent; i++) sent[i] = (unsigned char)(i % 253);
  zdtm_require(write(writer, sent, sizeof sent) == sizeof sent, "write fifo");
  zdtm_ready();
  zdtm_wait();
  unsigned char got[sizeof sent];
  for (size_t done = 0; done < sizeof got;) {
    ssize_t r = read(reader, got + done, sizeof got - done);
    if (r <= 0) zdtm_fail("fifo: read after %zu of %zu bytes: %s", done, sizeof got, r == 0 ? "EOF" : strerrorname_np(errno));
    done += r;
  }
  if (memcmp(got, sent, sizeof sent) != 0) zdtm_fail("fifo: other bytes than were written");
  fcntl(reader, F_SETFL, O_NONBLOCK);
  char extra;
  if (read(reader, &extra, 1) != -1 || errno != EAGAIN) zdtm_fail("fifo: more bytes than were written");
  zdtm_pass();
}

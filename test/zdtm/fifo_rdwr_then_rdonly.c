// zdtm: pass
// A FIFO opened O_RDWR, then O_RDONLY through its path (restart once hung forever reopening the
// O_RDONLY end: it blocks until a writer comes). After the restart both descriptors have their
// flags, and what is written through the O_RDWR one is read from the O_RDONLY one.
#include "zdtm.h"
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(mkfifo("fifo", 0600) == 0, "mkfifo");
  int both = open("fifo", O_RDWR);
  int reader = open("fifo", O_RDONLY);
  zdtm_require(both >= 0 && reader >= 0, "open fifo");
  zdtm_ready();
  zdtm_wait();
  int both_flags = fcntl(both, F_GETFL), reader_flags = fcntl(reader, F_GETFL);
  if ((both_flags & (O_ACCMODE | O_NONBLOCK)) != O_RDWR) zdtm_fail("O_RDWR end has flags 0%o", both_flags);
  if ((reader_flags & (O_ACCMODE | O_NONBLOCK)) != O_RDONLY) zdtm_fail("O_RDONLY end has flags 0%o", reader_flags);
  const char sent[] = "through the fifo";
  char got[sizeof sent] = {0};
  if (write(both, sent, sizeof sent) != sizeof sent) zdtm_fail("write to fifo: %s", strerrorname_np(errno));
  if (read(reader, got, sizeof got) != sizeof got || memcmp(got, sent, sizeof sent) != 0) zdtm_fail("fifo read back \"%.*s\"", (int)sizeof got, got);
  zdtm_pass();
}

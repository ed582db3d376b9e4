// zdtm: pass
// Several ends of pipes inside the process, some duplicated (the restart once closed an fd twice
// arranging them: "EBADF: bad file descriptor, close"): after the restart every write end still
// reaches its read end, and the duplicates share it.
#include "zdtm.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int a[2], b[2];
  zdtm_require(pipe(a) == 0 && pipe(b) == 0, "pipe");
  int a_read_again = dup(a[0]), b_write_again = dup(b[1]), b_write_far = dup2(b[1], 40);
  zdtm_require(a_read_again >= 0 && b_write_again >= 0 && b_write_far == 40, "dup");
  zdtm_ready();
  zdtm_wait();
  const struct { int from, to; const char* what; } routes[] = {
      {a[1], a[0], "a"}, {a[1], a_read_again, "a (dup of the read end)"},
      {b[1], b[0], "b"}, {b_write_again, b[0], "b (dup of the write end)"}, {b_write_far, b[0], "b (at fd 40)"},
  };
  for (unsigned i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    char sent = (char)('A' + i), got = 0;
    if (write(routes[i].from, &sent, 1) != 1) zdtm_fail("write to pipe %s: %s", routes[i].what, strerrorname_np(errno));
    if (read(routes[i].to, &got, 1) != 1 || got != sent) zdtm_fail("pipe %s: read %d, wrote %d", routes[i].what, got, sent);
  }
  zdtm_pass();
}

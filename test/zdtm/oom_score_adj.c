// zdtm: pass
// oom_score_adj raised to 537: the same after the restart.
#include "zdtm.h"

static int oom_score_adj(void) {
  char text[32] = "";
  int fd = open("/proc/self/oom_score_adj", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  return n > 0 ? atoi(text) : -9999;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open("/proc/self/oom_score_adj", O_WRONLY);
  zdtm_require(fd >= 0 && write(fd, "537", 3) == 3, "write /proc/self/oom_score_adj");
  close(fd);
  zdtm_ready();
  zdtm_wait();
  int got = oom_score_adj();
  if (got != 537) zdtm_fail("oom_score_adj is %d, expected 537", got);
  zdtm_pass();
}

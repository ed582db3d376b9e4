// zdtm: pass
// The audit loginuid set to 4321 (root may): the same after the restart.
#include "zdtm.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open("/proc/self/loginuid", O_WRONLY);
  zdtm_require(fd >= 0 && write(fd, "4321", 4) == 4, "write /proc/self/loginuid");
  close(fd);
  zdtm_ready();
  zdtm_wait();
  char text[32] = "";
  fd = open("/proc/self/loginuid", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (n <= 0) zdtm_fail("read /proc/self/loginuid: %s", strerrorname_np(errno));
  if (strcmp(text, "4321") != 0) zdtm_fail("loginuid is %s, expected 4321", text);
  zdtm_pass();
}

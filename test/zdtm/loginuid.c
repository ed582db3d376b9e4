// zdtm: pass
// The audit loginuid set to 4321 (root may) before a second thread starts, which inherits it:
// the same in both threads after the restart.
#include "zdtm.h"
#include <pthread.h>

static volatile int go;

/** The calling thread's loginuid, or -1. */
static long loginuid(void) {
  char text[32] = "";
  int fd = open("/proc/thread-self/loginuid", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  return n > 0 ? atol(text) : -1;
}

static void* other(void* arg) {
  (void)arg;
  while (!go) usleep(1000);
  return (void*)loginuid();
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = open("/proc/self/loginuid", O_WRONLY);
  zdtm_require(fd >= 0 && write(fd, "4321", 4) == 4, "write /proc/self/loginuid");
  close(fd);
  pthread_t thread;
  zdtm_require(pthread_create(&thread, NULL, other, NULL) == 0, "pthread_create");
  zdtm_ready();
  zdtm_wait();
  long mine = loginuid();
  if (mine != 4321) zdtm_fail("main thread: loginuid is %ld, expected 4321", mine);
  go = 1;
  void* theirs;
  pthread_join(thread, &theirs);
  if ((long)theirs != 4321) zdtm_fail("other thread: loginuid is %ld, expected 4321", (long)theirs);
  zdtm_pass();
}

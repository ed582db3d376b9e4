// zdtm: pass
// no_new_privs is each thread's own: set in the main thread after a second thread started, it
// is set in the main thread after the restart (execve could otherwise gain privileges again)
// and still clear in the other.
#include "zdtm.h"
#include <pthread.h>
#include <sys/prctl.h>

static volatile int go;

static void* other(void* arg) {
  (void)arg;
  while (!go) usleep(1000);
  return (void*)(long)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  pthread_t thread;
  zdtm_require(pthread_create(&thread, NULL, other, NULL) == 0, "pthread_create");
  zdtm_require(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
  zdtm_ready();
  zdtm_wait();
  int got = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (got != 1) zdtm_fail("main thread: PR_GET_NO_NEW_PRIVS is %d, expected 1", got);
  go = 1;
  void* result;
  pthread_join(thread, &result);
  if ((long)result != 0) zdtm_fail("other thread: PR_GET_NO_NEW_PRIVS is %ld, expected 0", (long)result);
  zdtm_pass();
}

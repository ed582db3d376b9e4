// zdtm: refused thread-credentials
// One thread changed its own effective uid with a raw setresuid syscall (glibc's wrapper would
// change every thread): cr restores one set of credentials for all threads, so check names the
// thread and snapshot refuses.
#include "zdtm.h"

#include <pthread.h>
#include <sys/syscall.h>

static volatile int switched;

static void* other_uid(void* arg) {
  (void)arg;
  switched = syscall(SYS_setresuid, -1, 65534, -1) == 0 ? 1 : -1;
  for (;;) pause();
  return NULL;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  pthread_t t;
  zdtm_require(pthread_create(&t, NULL, other_uid, NULL) == 0, "pthread_create");
  while (!switched) usleep(1000);
  zdtm_require(switched == 1, "setresuid in the thread");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

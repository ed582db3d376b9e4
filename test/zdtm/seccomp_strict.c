// zdtm: refused seccomp
// Seccomp strict mode (only read, write, _exit and sigreturn pass) in the main thread: a restart
// could not rebuild the process under it, so check names it and snapshot refuses. A second
// thread says "ready" once the main thread is in strict mode (which forbids the open).
#include "zdtm.h"
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>

static int entered[2];

static void* announce(void* arg) {
  (void)arg;
  char byte;
  if (read(entered[0], &byte, 1) == 1) zdtm_ready();
  zdtm_wait();
  zdtm_pass(); // never: the test kills the refused program
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int never[2];
  pthread_t thread;
  zdtm_require(pipe(never) == 0 && pipe(entered) == 0, "pipe");
  zdtm_require(pthread_create(&thread, NULL, announce, NULL) == 0, "pthread_create");
  zdtm_require(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) == 0, "PR_SET_SECCOMP");
  char byte = 1;
  (void)!write(entered[1], &byte, 1);
  (void)!read(never[0], &byte, 1);
  return 0;
}

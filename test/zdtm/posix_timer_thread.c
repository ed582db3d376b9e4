// zdtm: pass
// A periodic POSIX timer that signals one thread (SIGEV_THREAD_ID) of two: after the restart it
// still names that thread, and the thread keeps receiving its signal with its value.
#include "zdtm.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

#define SIG (SIGRTMIN + 5)
#define VALUE 0xabcdefUL

static volatile int go, tid;

/** Set up: the thread's TID. After the restart: how many of the timer's signals it took in 2 s. */
static void* receiver(void* arg) {
  (void)arg;
  tid = (int)syscall(SYS_gettid);
  while (!go) usleep(1000);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIG);
  struct timespec second = {2, 0};
  siginfo_t info;
  long got = 0;
  while (got < 3 && sigtimedwait(&set, &info, &second) == SIG) {
    if (info.si_code != SI_TIMER || (unsigned long)info.si_value.sival_ptr != VALUE) return (void*)-1L;
    got++;
  }
  return (void*)got;
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIG);
  sigprocmask(SIG_BLOCK, &set, NULL); // in both threads: the receiver waits for it
  pthread_t thread;
  zdtm_require(pthread_create(&thread, NULL, receiver, NULL) == 0, "pthread_create");
  while (!tid) usleep(1000);
  struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIG};
  ev.sigev_value.sival_ptr = (void*)VALUE;
  ev._sigev_un._tid = tid;
  int id = -1;
  zdtm_require(syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) == 0, "timer_create");
  struct itimerspec its = {.it_interval = {0, 30000000}, .it_value = {0, 30000000}};
  zdtm_require(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0, "timer_settime");
  zdtm_ready();
  zdtm_wait();
  char text[256] = "", want[256];
  FILE* f = fopen("/proc/self/timers", "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = 0;
  snprintf(want, sizeof want, "ID: %d\nsignal: %d/%016lx\nnotify: signal/tid.%d\nClockID: 1\n", id, SIG, VALUE, tid);
  if (strcmp(text, want) != 0) zdtm_fail("/proc/self/timers is \"%s\", expected \"%s\"", text, want);
  go = 1;
  void* got;
  pthread_join(thread, &got);
  if ((long)got != 3) zdtm_fail("the thread took %ld of the timer's signals in 2 s, expected 3 (-1: a wrong one)", (long)got);
  zdtm_pass();
}

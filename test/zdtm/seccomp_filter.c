// zdtm: pass
// Three seccomp filters, installed in a process of two threads with TSYNC: sched_yield fails with
// ENOMSG by the first and EDOM by the third (the newest filter wins: restored in another order,
// ENOMSG would), getitimer with EDOM by the second (which would also refuse cr's own injected
// getitimer if cr did not suspend the filters while it works). After the restart both threads
// have the three filters and no_new_privs.
#include "zdtm.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

static void install(int nr, int err) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = 4, .filter = code};
  zdtm_require(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0, "seccomp");
}

/** What differs in the calling thread, or NULL. */
static const char* check(void) {
  static __thread char why[128];
  struct itimerval it;
  if (syscall(SYS_sched_yield) != -1 || errno != EDOM) return errno == ENOMSG ? "the filters are in another order" : "sched_yield passes the filters";
  if (getitimer(ITIMER_REAL, &it) != -1 || errno != EDOM) return "getitimer passes the second filter";
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) return "not in seccomp filter mode";
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return "no_new_privs is not set";
  char path[64], text[4096] = "";
  snprintf(path, sizeof path, "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  const char* line = n > 0 ? strstr(text, "Seccomp_filters:") : NULL;
  if (!line || atoi(line + strlen("Seccomp_filters:")) != 3) {
    snprintf(why, sizeof why, "%s has no \"Seccomp_filters: 3\"", path);
    return why;
  }
  return NULL;
}

static volatile int go;

static void* other(void* arg) {
  (void)arg;
  while (!go) usleep(1000);
  return (void*)check();
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  pthread_t thread;
  zdtm_require(pthread_create(&thread, NULL, other, NULL) == 0, "pthread_create");
  zdtm_require(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
  install(SYS_sched_yield, ENOMSG);
  install(SYS_getitimer, EDOM);
  install(SYS_sched_yield, EDOM);
  zdtm_ready();
  zdtm_wait();
  const char* why = check();
  if (why) zdtm_fail("main thread: %s", why);
  go = 1;
  void* result;
  pthread_join(thread, &result);
  if (result) zdtm_fail("other thread: %s", (const char*)result);
  zdtm_pass();
}

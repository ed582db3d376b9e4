// Two seccomp filters (the second with SECCOMP_FILTER_FLAG_LOG): getppid fails with EDOM.
// Prints "ready", then sleeps.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int install(unsigned flags, unsigned ret) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, ret),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = 4, .filter = code};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int main(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || install(0, SECCOMP_RET_ERRNO | EDOM) != 0 ||
      install(SECCOMP_FILTER_FLAG_LOG, SECCOMP_RET_ERRNO | EDOM) != 0) {
    perror("seccomp");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}

// Test target for fileOwner and pipeCapacity: makes its process group the owner of the read end
// of a pipe (signal 40 instead of SIGIO), grows the pipe to 128 KiB, prints
// "ready PGRP READFD WRITEFD" and waits.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
  int p[2];
  struct f_owner_ex owner = {F_OWNER_PGRP, getpgrp()};
  if (pipe(p) < 0 || fcntl(p[0], F_SETOWN_EX, &owner) < 0 || fcntl(p[0], F_SETSIG, 40) < 0 || fcntl(p[1], F_SETPIPE_SZ, 128 * 1024) < 0) {
    perror("set-up");
    return 1;
  }
  printf("ready %d %d %d\n", getpgrp(), p[0], p[1]);
  fflush(stdout);
  pause();
  return 0;
}

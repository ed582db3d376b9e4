// Holds a process under PTRACE_SEIZE (without stopping it) until stdin closes, so tests
// can check what happens when cr meets an already-traced target.
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (ptrace(PTRACE_SEIZE, atoi(argv[1]), NULL, NULL) != 0) {
    perror("PTRACE_SEIZE");
    return 1;
  }
  printf("traced\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  return 0;
}

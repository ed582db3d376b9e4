// zdtm: pass
// MADV_WIPEONFORK (smaps VmFlags "wf"): after the restart the parent keeps its bytes, and a
// child forked then finds the mapping zeroed.
#include "vmflags.h"

#include <sys/wait.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char* p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'w', 4 * 4096);
  zdtm_require(madvise(p, 4 * 4096, MADV_WIPEONFORK) == 0, "madvise(MADV_WIPEONFORK)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p, "wf", 1, "the MADV_WIPEONFORK mapping");
  for (int i = 0; i < 4 * 4096; i++) {
    if (p[i] != 'w') zdtm_fail("byte %d of the mapping is %d, not 'w'", i, p[i]);
  }
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 4 * 4096; i++) {
      if (p[i] != 0) _exit(1);
    }
    _exit(0);
  }
  int status;
  if (waitpid(child, &status, 0) != child) zdtm_fail("waitpid: %s", strerrorname_np(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("a forked child found the MADV_WIPEONFORK mapping not wiped (status 0x%x)", status);
  zdtm_pass();
}

// zdtm: pass
// MADV_DONTFORK on a mapping (smaps VmFlags "dc"): after the restart the flag is still there, and
// a child forked then does not get the mapping (touching it faults), while the parent keeps it.
#include "vmflags.h"

#include <sys/wait.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  char* p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  zdtm_require(p != MAP_FAILED, "mmap");
  memset(p, 'd', 4 * 4096);
  zdtm_require(madvise(p, 4 * 4096, MADV_DONTFORK) == 0, "madvise(MADV_DONTFORK)");
  zdtm_ready();
  zdtm_wait();
  expect_vmflag(p, "dc", 1, "the MADV_DONTFORK mapping");
  if (p[4 * 4096 - 1] != 'd') zdtm_fail("the mapping's contents changed: %d", p[4 * 4096 - 1]);
  pid_t child = fork();
  if (child == 0) _exit(faults(p, 0) ? 0 : 1);
  int status;
  if (waitpid(child, &status, 0) != child) zdtm_fail("waitpid: %s", strerrorname_np(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("a forked child could read the MADV_DONTFORK mapping (status 0x%x)", status);
  zdtm_pass();
}

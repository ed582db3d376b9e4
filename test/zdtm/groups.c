// zdtm: pass
// Supplementary groups set to an unusual list (the process stays root): the same list after the
// restart, not cr's.
#include "zdtm.h"
#include <grp.h>

static const gid_t wanted[] = {7, 1234, 99999};

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  zdtm_require(setgroups(3, wanted) == 0, "setgroups");
  zdtm_ready();
  zdtm_wait();
  gid_t got[64];
  int n = getgroups(64, got);
  if (n != 3) zdtm_fail("%d supplementary groups, expected 3", n);
  for (int i = 0; i < 3; i++)
    if (got[i] != wanted[i]) zdtm_fail("group %d is %u, expected %u", i, got[i], wanted[i]);
  zdtm_pass();
}

// zdtm: pass
// zdtm: warns inotify instance fd \d+: the \d+ bytes of events queued at the checkpoint are not restored
// An inotify instance with events not read at the checkpoint: the snapshot says they are lost, and
// after the restart the queue is empty while the watch works on.
#include "zdtm.h"

#include <sys/inotify.h>
#include <sys/stat.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int fd = inotify_init1(IN_NONBLOCK);
  zdtm_require(fd >= 0 && mkdir("d", 0755) == 0, "inotify_init1, mkdir");
  zdtm_require(inotify_add_watch(fd, "d", IN_CREATE) == 1, "watch");
  int made = open("d/before", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  zdtm_require(made >= 0 && close(made) == 0, "create d/before");
  zdtm_ready();
  zdtm_wait();
  char buf[4096];
  if (read(fd, buf, sizeof buf) != -1 || errno != EAGAIN) zdtm_fail("events from before the checkpoint are queued");
  made = open("d/after", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (made < 0) zdtm_fail("cannot create d/after");
  struct inotify_event* e = (struct inotify_event*)buf;
  if (read(fd, buf, sizeof buf) < (ssize_t)sizeof *e || e->wd != 1 || e->mask != IN_CREATE || strcmp(e->name, "after") != 0) zdtm_fail("no IN_CREATE of d/after");
  zdtm_pass();
}

// zdtm: refused inotify
// An inotify watch of a file deleted while the program keeps it open (the watch lasts as long as
// the inode): no path finds it again, so a restart could not watch it. cr check names the inotify
// instance (and the deleted file), and a snapshot refuses.
#include "zdtm.h"

#include <sys/inotify.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int held = open("gone", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int fd = inotify_init1(0);
  zdtm_require(held >= 0 && fd >= 0, "open, inotify_init1");
  zdtm_require(inotify_add_watch(fd, "gone", IN_MODIFY) == 1 && unlink("gone") == 0, "watch and unlink");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

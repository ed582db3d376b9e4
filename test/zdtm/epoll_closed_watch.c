// zdtm: refused epoll
// An epoll watch whose descriptor was closed while a dup keeps the file open: the watch stays,
// under a number that names nothing now, so a restart could not register it again (epoll_ctl
// takes a descriptor). cr check names the epoll instance, and a snapshot refuses.
#include "zdtm.h"

#include <sys/epoll.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int p[2];
  int epfd = epoll_create1(0);
  zdtm_require(epfd >= 0 && pipe(p) == 0, "epoll_create1, pipe");
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
  zdtm_require(epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl");
  zdtm_require(fcntl(p[0], F_DUPFD, 40) == 40 && close(p[0]) == 0, "dup and close");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

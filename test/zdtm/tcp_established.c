// zdtm: refused tcp-connection
// An established TCP connection (both ends in the process): cr cannot restore it yet, so cr check
// names it (--tcp-close would save it closed) and a snapshot refuses.
#include "zdtm.h"

#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof a;
  zdtm_require(l >= 0 && bind(l, (struct sockaddr*)&a, sizeof a) == 0 && listen(l, 1) == 0 && getsockname(l, (struct sockaddr*)&a, &length) == 0, "listen");
  int c = socket(AF_INET, SOCK_STREAM, 0);
  zdtm_require(c >= 0 && connect(c, (struct sockaddr*)&a, length) == 0 && accept(l, NULL, NULL) >= 0, "connect");
  zdtm_ready();
  zdtm_wait();
  zdtm_pass();
}

// zdtm: pass
// TCP and UDP sockets (they were refused): a non-blocking TCP listener on 127.0.0.1 with
// SO_REUSEADDR, SO_KEEPALIVE, TCP_NODELAY and a backlog of 7; an IPv6-only listener on ::1; a UDP
// socket bound and connected to a second one, with its receive buffer set and SO_BROADCAST; an
// unbound TCP socket with SO_LINGER; a listener shared with a child that waits in accept. After
// the restart each is bound to the same address with the same options and backlog, the
// listeners accept new connections, the UDP pair exchanges a datagram, and the child accepts a
// connection through the shared listener and exits with the byte it read.
#include "zdtm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static int option(int fd, int level, int name) {
  int v = -1;
  socklen_t length = sizeof v;
  if (getsockopt(fd, level, name, &v, &length)) zdtm_fail("getsockopt %d:%d of fd %d: %s", level, name, fd, strerrorname_np(errno));
  return v;
}

static void set(int fd, int level, int name, int value) {
  zdtm_require(setsockopt(fd, level, name, &value, sizeof value) == 0, "setsockopt");
}

static int listener(int family, const char* address) {
  int fd = socket(family, SOCK_STREAM, 0);
  zdtm_require(fd >= 0, "socket");
  struct sockaddr_storage a = {0};
  socklen_t length;
  if (family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&a;
    in->sin_family = AF_INET;
    inet_pton(AF_INET, address, &in->sin_addr);
    length = sizeof *in;
  } else {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&a;
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, address, &in6->sin6_addr);
    set(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    length = sizeof *in6;
  }
  zdtm_require(bind(fd, (struct sockaddr*)&a, length) == 0, "bind");
  return fd;
}

static struct sockaddr_storage name_of(int fd, socklen_t* length) {
  struct sockaddr_storage a;
  *length = sizeof a;
  if (getsockname(fd, (struct sockaddr*)&a, length)) zdtm_fail("getsockname of fd %d: %s", fd, strerrorname_np(errno));
  return a;
}

/** Connects to listener `fd`'s address, sends `byte`, and returns the connected socket. */
static int connect_to(int fd, char byte) {
  socklen_t length;
  struct sockaddr_storage a = name_of(fd, &length);
  int c = socket(a.ss_family, SOCK_STREAM, 0);
  if (c < 0 || connect(c, (struct sockaddr*)&a, length) || write(c, &byte, 1) != 1) zdtm_fail("cannot connect to the listener on fd %d: %s", fd, strerrorname_np(errno));
  return c;
}

static int backlog(int fd) {
  struct tcp_info t;
  socklen_t length = sizeof t;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t, &length)) zdtm_fail("TCP_INFO: %s", strerrorname_np(errno));
  return (int)t.tcpi_sacked;  // a listener's backlog
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int v4 = listener(AF_INET, "127.0.0.1");
  set(v4, SOL_SOCKET, SO_REUSEADDR, 1);
  set(v4, SOL_SOCKET, SO_KEEPALIVE, 1);
  set(v4, IPPROTO_TCP, TCP_NODELAY, 1);
  zdtm_require(listen(v4, 7) == 0 && fcntl(v4, F_SETFL, O_NONBLOCK) == 0, "listen");
  int v6 = listener(AF_INET6, "::1");
  zdtm_require(listen(v6, 3) == 0, "listen ::1");
  int shared = listener(AF_INET, "127.0.0.1");
  zdtm_require(listen(shared, 1) == 0, "listen shared");
  int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  zdtm_require(u1 >= 0 && u2 >= 0 && bind(u1, (struct sockaddr*)&lo, sizeof lo) == 0 && bind(u2, (struct sockaddr*)&lo, sizeof lo) == 0, "udp bind");
  socklen_t length;
  struct sockaddr_storage to = name_of(u2, &length);
  zdtm_require(connect(u1, (struct sockaddr*)&to, length) == 0, "udp connect");
  set(u1, SOL_SOCKET, SO_RCVBUF, 65536);
  set(u1, SOL_SOCKET, SO_BROADCAST, 1);
  int fresh = socket(AF_INET, SOCK_STREAM, 0);
  struct linger l = {1, 3};
  zdtm_require(fresh >= 0 && setsockopt(fresh, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0, "linger");
  int rcvbuf = option(u1, SOL_SOCKET, SO_RCVBUF);
  socklen_t l4, l6, lu;
  struct sockaddr_storage n4 = name_of(v4, &l4), n6 = name_of(v6, &l6), nu = name_of(u1, &lu);
  pid_t child = fork();
  zdtm_require(child >= 0, "fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // killed with the parent, as the test kills only it
    int c;
    while ((c = accept(shared, NULL, NULL)) < 0 && errno == EINTR) continue;  // a stop interrupts it
    char byte = 0;
    _exit(c >= 0 && read(c, &byte, 1) == 1 ? byte : 255);
  }
  zdtm_ready();
  zdtm_wait();
  socklen_t now;
  struct sockaddr_storage a = name_of(v4, &now);
  if (now != l4 || memcmp(&a, &n4, l4)) zdtm_fail("the IPv4 listener is bound elsewhere now");
  a = name_of(v6, &now);
  if (now != l6 || memcmp(&a, &n6, l6)) zdtm_fail("the IPv6 listener is bound elsewhere now");
  a = name_of(u1, &now);
  if (now != lu || memcmp(&a, &nu, lu)) zdtm_fail("the UDP socket is bound elsewhere now");
  if (!option(v4, SOL_SOCKET, SO_ACCEPTCONN) || !option(v4, SOL_SOCKET, SO_REUSEADDR) || !option(v4, SOL_SOCKET, SO_KEEPALIVE) || !option(v4, IPPROTO_TCP, TCP_NODELAY)) zdtm_fail("the IPv4 listener lost an option");
  if (backlog(v4) != 7 || backlog(v6) != 3) zdtm_fail("the backlogs are %d and %d, not 7 and 3", backlog(v4), backlog(v6));
  if (!(fcntl(v4, F_GETFL) & O_NONBLOCK) || (fcntl(v6, F_GETFL) & O_NONBLOCK)) zdtm_fail("the status flags differ");
  if (!option(v6, IPPROTO_IPV6, IPV6_V6ONLY)) zdtm_fail("IPV6_V6ONLY is off");
  if (option(u1, SOL_SOCKET, SO_RCVBUF) != rcvbuf || !option(u1, SOL_SOCKET, SO_BROADCAST)) zdtm_fail("the UDP socket lost an option (SO_RCVBUF %d, not %d)", option(u1, SOL_SOCKET, SO_RCVBUF), rcvbuf);
  struct linger got;
  socklen_t ll = sizeof got;
  if (getsockopt(fresh, SOL_SOCKET, SO_LINGER, &got, &ll) || !got.l_onoff || got.l_linger != 3) zdtm_fail("SO_LINGER is not {1, 3}");
  int c4 = connect_to(v4, 4), c6 = connect_to(v6, 6);
  fcntl(v4, F_SETFL, 0);
  int a4 = accept(v4, NULL, NULL), a6 = accept(v6, NULL, NULL);
  char byte = 0;
  if (a4 < 0 || read(a4, &byte, 1) != 1 || byte != 4) zdtm_fail("the IPv4 listener does not accept");
  if (a6 < 0 || read(a6, &byte, 1) != 1 || byte != 6) zdtm_fail("the IPv6 listener does not accept");
  if (send(u1, "u", 1, 0) != 1 || recv(u2, &byte, 1, 0) != 1 || byte != 'u') zdtm_fail("the UDP pair does not exchange a datagram");
  close(c4);
  close(c6);
  close(connect_to(shared, 42));
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 42) zdtm_fail("the child read %d through the shared listener, not 42", WEXITSTATUS(status));
  zdtm_pass();
}

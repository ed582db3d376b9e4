// The master of the pseudo-terminal `cr restart --detach` gives a program that ran on a terminal:
// held here, in a process of its own, so that the program keeps its terminal after cr returns,
// and relayed to `cr attach`. It listens on the abstract UNIX socket "cr-terminal-PID" (PID: the
// restarted program) for one client at a time, of the same user (or root); keeps the last 64 KiB
// the program wrote while none is attached and gives them to the next one; and ends when the
// program's side of the terminal is closed (reading the master fails with EIO).
//
// Usage: terminal-holder PID (the master is descriptor 3). From the client, frames:
//   'd' u32 length, bytes     typed on the terminal (written to the master)
//   'w' u16 rows, u16 cols    the client's window size (TIOCSWINSZ; the program gets SIGWINCH, to draw its screen)
// To the client: what the program writes, as it is.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MASTER 3
#define KEPT (64 * 1024)

static char kept[KEPT];
static size_t kept_len;

/** Keeps the last KEPT bytes written while no client is attached. */
static void keep(const char* data, size_t n) {
  if (n > KEPT) {
    data += n - KEPT;
    n = KEPT;
  }
  if (kept_len + n > KEPT) {
    memmove(kept, kept + (kept_len + n - KEPT), KEPT - n);
    kept_len = KEPT - n;
  }
  memcpy(kept + kept_len, data, n);
  kept_len += n;
}

static int write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void* into, size_t n) {
  char* p = into;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/** One frame from the client; -1 when it is gone or speaks nonsense (it is dropped). */
static int from_client(int client) {
  char type;
  if (read_all(client, &type, 1) < 0) return -1;
  if (type == 'w') {
    uint16_t size[2];
    if (read_all(client, size, sizeof size) < 0) return -1;
    struct winsize w = {.ws_row = size[0], .ws_col = size[1]};
    // SIGWINCH even when the size is the same: a client that just attached needs the screen drawn.
    pid_t pgrp;
    if (ioctl(MASTER, TIOCSWINSZ, &w) < 0) return -1;
    if (ioctl(MASTER, TIOCGPGRP, &pgrp) == 0) kill(-pgrp, SIGWINCH);
    return 0;
  }
  uint32_t length;
  if (type != 'd' || read_all(client, &length, sizeof length) < 0 || length > 1 << 20) return -1;
  char* data = malloc(length ? length : 1);
  int ok = data && read_all(client, data, length) == 0 && write_all(MASTER, data, length) == 0;
  free(data);
  return ok ? 0 : -1;
}

/** A client of the same user (or root); any other is turned away. */
static int admit(int listener, int client) {
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return client;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (client >= 0 || getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || (cred.uid != 0 && cred.uid != getuid())) {
    close(c);
    return client;
  }
  if (kept_len > 0 && write_all(c, kept, kept_len) == 0) kept_len = 0;
  return c;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PID (the pseudo-terminal master on descriptor 3)\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "cr-terminal-%s", argv[1]);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // The whole sun_path, NUL-padded, is the name: as Node (libuv) connects to an abstract name.
  if (listener < 0 || bind(listener, (struct sockaddr*)&addr, sizeof addr) < 0 || listen(listener, 4) < 0) {
    perror("terminal-holder: listen");
    return 1;
  }
  for (int client = -1;;) {
    struct pollfd p[3] = {{MASTER, POLLIN, 0}, {listener, POLLIN, 0}, {client, POLLIN, 0}};
    if (poll(p, client >= 0 ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents) {
      char buf[16384];
      ssize_t r = read(MASTER, buf, sizeof buf);
      if (r <= 0 && errno != EINTR && errno != EAGAIN) return 0;  // the program's side is closed: it ended
      if (r > 0 && (client < 0 || write_all(client, buf, (size_t)r) < 0)) keep(buf, (size_t)r);
    }
    if (p[1].revents) client = admit(listener, client);
    if (client >= 0 && p[2].revents && from_client(client) < 0) {
      close(client);
      client = -1;
    }
  }
}

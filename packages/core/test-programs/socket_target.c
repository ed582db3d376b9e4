/*
 * A target for the UNIX socket tests (protocol: targets.ts). It prints "pid N", makes the sockets
 * argv[1] names, prints "ready {json}" with their fds, then answers "ping" with "pong" and
 * "drain FD..." with what each fd reads now (JSON: hex of a stream's bytes, of each message of
 * the others), so a test can prove cr consumed nothing.
 *
 *   socket_target tree DIR     with a child (which holds the other ends, and the listening socket
 *                              too) and bytes in flight everywhere:
 *                              stream: a stream pair, "to-parent" queued at the parent's end
 *                                (SO_PASSCRED, SO_RCVBUF 1 MiB), "to-child" at the child's, the
 *                                parent's end shut for writing;
 *                              dgram: a datagram pair, "a", "" and 3000 bytes of 'c' at the
 *                                child's end, "back" at the parent's (SO_RCVTIMEO 2 s);
 *                              seqpacket: a seqpacket pair, "s1", "s2" at the child's end, the
 *                                parent's end shut for writing;
 *                              listener: DIR/listen.sock, backlog 5, with two connections
 *                                waiting: client1, client2 (the parent's);
 *                              closed: a stream whose peer was closed after sending "last words";
 *                              abstract: an unconnected datagram socket bound to "@cr-socket-target-PID"
 *                                with "anon" from an unnamed sender waiting
 *   socket_target problems DIR PATH
 *                              outside: connected to the listening socket at PATH (the test's);
 *                              inflight: a stream pair with a descriptor sent over it, not received;
 *                              relative: bound to "rel.sock" (the working directory is DIR);
 *                              eager: a connection to its own listening socket DIR/eager.sock
 *                                that sent bytes before it was accepted
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int check(int r, const char *what)
{
	if (r < 0) die(what);
	return r;
}

static void put(int fd, const void *bytes, size_t n)
{
	if (send(fd, bytes, n, 0) != (ssize_t)n) die("send");
}

static struct sockaddr_un named(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	return a;
}

static int listening(const char *path, int backlog)
{
	struct sockaddr_un a = named(path);
	int fd = check(socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	unlink(path);
	check(bind(fd, (struct sockaddr *)&a, sizeof a), "bind");
	check(listen(fd, backlog), "listen");
	return fd;
}

static int connected(const char *path)
{
	struct sockaddr_un a = named(path);
	int fd = check(socket(AF_UNIX, SOCK_STREAM, 0), "socket");
	check(connect(fd, (struct sockaddr *)&a, sizeof a), "connect");
	return fd;
}

/* Prints what fd reads now, without waiting: "fd:[hex,hex...]". */
static void drain(int fd)
{
	int type;
	socklen_t len = sizeof type;
	unsigned char buf[8192];
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	printf("\"%d\":[", fd);
	for (int first = 1;; first = 0) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 || (n == 0 && type != SOCK_DGRAM)) break;
		printf("%s\"", first ? "" : ",");
		for (ssize_t i = 0; i < n; i++) printf("%02x", buf[i]);
		printf("\"");
	}
	printf("]");
}

static void serve(void)
{
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		if (strncmp(line, "ping", 4) == 0) printf("pong\n");
		if (strncmp(line, "drain", 5) == 0) {
			printf("{");
			char *p = line + 5;
			for (int first = 1;; first = 0) {
				char *end;
				long fd = strtol(p, &end, 10);
				if (end == p) break;
				printf("%s", first ? "" : ",");
				drain((int)fd);
				p = end;
			}
			printf("}\n");
		}
		fflush(stdout);
	}
}

static void tree(const char *dir)
{
	int stream[2], dgram[2], seq[2], closed[2], passcred = 1, rcvbuf = 1 << 20;
	struct timeval timeout = {2, 0};
	char path[200], abstract[120];
	check(socketpair(AF_UNIX, SOCK_STREAM, 0, stream), "socketpair");
	check(socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram), "socketpair");
	check(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seq), "socketpair");
	check(socketpair(AF_UNIX, SOCK_STREAM, 0, closed), "socketpair");
	check(setsockopt(stream[0], SOL_SOCKET, SO_PASSCRED, &passcred, sizeof passcred), "SO_PASSCRED");
	check(setsockopt(stream[0], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), "SO_RCVBUF");
	check(setsockopt(dgram[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), "SO_RCVTIMEO");
	put(stream[1], "to-parent", 9);
	put(stream[0], "to-child", 8);
	shutdown(stream[0], SHUT_WR);
	char big[3000];
	memset(big, 'c', sizeof big);
	put(dgram[0], "a", 1);
	put(dgram[0], "", 0);
	put(dgram[0], big, sizeof big);
	put(dgram[1], "back", 4);
	put(seq[0], "s1", 2);
	put(seq[0], "s2", 2);
	shutdown(seq[0], SHUT_WR);
	put(closed[1], "last words", 10);
	close(closed[1]);
	snprintf(path, sizeof path, "%s/listen.sock", dir);
	int listener = listening(path, 5);
	int client1 = connected(path), client2 = connected(path);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cr-socket-target-%d", (int)getpid());
	snprintf(abstract, sizeof abstract, "@%s", a.sun_path + 1);
	int anon = check(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
	check(bind(anon, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + len), "bind");
	int sender = check(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
	check(sendto(sender, "anon", 4, 0, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + len), "sendto");
	close(sender);
	pid_t child = check(fork(), "fork");
	if (child == 0) {
		close(stream[0]);
		close(dgram[0]);
		close(seq[0]);
		close(client1);
		close(client2);
		close(anon);
		close(closed[0]);
		for (;;) pause();
	}
	close(stream[1]);
	close(dgram[1]);
	close(seq[1]);
	printf("ready {\"child\":%d,\"stream\":[%d,%d],\"dgram\":[%d,%d],\"seq\":[%d,%d],\"listener\":%d,\"clients\":[%d,%d],\"closed\":%d,\"abstract\":%d,\"abstractName\":\"%s\",\"path\":\"%s\"}\n",
	       (int)child, stream[0], stream[1], dgram[0], dgram[1], seq[0], seq[1], listener, client1, client2, closed[0], anon, abstract, path);
}

static void problems(const char *dir, const char *outside_path)
{
	int outside = connected(outside_path);
	int pair[2];
	check(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), "socketpair");
	int sent = check(open("/dev/null", O_RDONLY), "open");
	char byte = 'x', control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {&byte, 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sent, sizeof sent);
	check(sendmsg(pair[0], &m, 0), "sendmsg");
	close(sent);
	check(chdir(dir), "chdir");
	struct sockaddr_un rel = named("rel.sock");
	int relative = check(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
	check(bind(relative, (struct sockaddr *)&rel, sizeof rel), "bind");
	char path[200];
	snprintf(path, sizeof path, "%s/eager.sock", dir);
	int eager_listener = listening(path, 5);
	int eager = connected(path);
	put(eager, "early", 5);
	printf("ready {\"outside\":%d,\"inflight\":%d,\"relative\":%d,\"eagerListener\":%d,\"eager\":%d}\n", outside, pair[1], relative, eager_listener, eager);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid %d\n", (int)getpid());
	if (argc > 2 && strcmp(argv[1], "tree") == 0) tree(argv[2]);
	else if (argc > 3 && strcmp(argv[1], "problems") == 0) problems(argv[2], argv[3]);
	else {
		fprintf(stderr, "usage: socket_target tree DIR | problems DIR PATH\n");
		return 2;
	}
	fflush(stdout);
	serve();
	return 0;
}

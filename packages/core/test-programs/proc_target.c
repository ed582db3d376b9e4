/*
 * A target for the /proc collector tests. It prints "pid N", sets up the state named by argv[1],
 * prints one line of JSON describing what it made ("ready {...}"), then answers each "ping" line on stdin
 * with "pong" (so a test can prove it still runs after cr looked at it) until stdin closes.
 *
 *   proc_target clean                  nothing but stdio
 *   proc_target state DIR FILE         umask 027, RLIMIT_NOFILE soft 200, ADDR_NO_RANDOMIZE,
 *                                      chdir DIR, maps FILE privately, an anonymous region,
 *                                      a MADV_DONTDUMP region; fds: FILE at offset 1234,
 *                                      DIR/app.log O_APPEND, DIR (directory), /dev/null,
 *                                      a pipe (both ends), DIR/fifo (read end), a userfaultfd
 *                                      at a low fd and a dup of it at fd 199 (where cr keeps its own)
 *   proc_target check                  a TCP connection on 127.0.0.1 (its peer closed), a fanotify
 *                                      instance and an io_uring instance (not mapped)
 *   proc_target shared DIR             MAP_SHARED anonymous memory, a shared writable mapping
 *                                      of DIR/shared, a SysV shm segment (removed at once, so
 *                                      it vanishes with the process), a mapped memfd, an
 *                                      io_uring (-1 if the kernel refuses it), and a page
 *                                      named [anon:cr-trampoline] (0 without ANON_VMA_NAME)
 *   proc_target shmem                  memfd "crtest-shmem" (4 pages, F_SEAL_GROW, held open):
 *                                      pages 0-1 mapped shared, page 0 written through the
 *                                      mapping, page 3 by pwrite; memfd "crtest-sealed" (a page,
 *                                      F_SEAL_WRITE) mapped read-only; /dev/shm/crtest-shmem-PID
 *                                      (2 pages, page 0 written) mapped shared, its fd closed;
 *                                      /dev/shm/crtest-deleted-PID, deleted, held open, 100 bytes
 *   proc_target ghosts DIR             deleted files in DIR: "sparse" (mode 0640, "head" at 0,
 *                                      "tail" at 3 MiB); an O_TMPFILE file holding "unnamed";
 *                                      "mapped" (2 pages of 'm') mapped shared, its fd closed;
 *                                      "linked", still linked as "other"; "sub/gone", sub removed
 *                                      too; "big" (BIG_BYTES of data, past what cr saves)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void serve(void) {
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "ping", 4) == 0) {
      printf("pong\n");
      fflush(stdout);
    }
  }
}

static void state(const char *dir, const char *file) {
  umask(027);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
  rl.rlim_cur = 200;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit");
  if (personality(ADDR_NO_RANDOMIZE) == -1) die("personality");
  if (chdir(dir) != 0) die("chdir");

  int mapped = open(file, O_RDONLY);
  if (mapped < 0) die("open file");
  void *filemap = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, mapped, 4096);
  if (filemap == MAP_FAILED) die("mmap file");
  close(mapped);
  char *anon = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (anon == MAP_FAILED) die("mmap anon");
  memset(anon, 1, 4096);
  char *nodump = mmap(NULL, 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (nodump == MAP_FAILED) die("mmap nodump");
  if (madvise(nodump, 5 * 4096, MADV_DONTDUMP) != 0) die("madvise");

  int reg = open(file, O_RDWR);
  if (reg < 0 || lseek(reg, 1234, SEEK_SET) != 1234) die("regular");
  int app = open("app.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (app < 0) die("append");
  int dfd = open(".", O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("dir");
  int null = open("/dev/null", O_WRONLY);
  if (null < 0) die("null");
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (mkfifo("fifo", 0600) != 0) die("mkfifo");
  int fifo = open("fifo", O_RDONLY | O_NONBLOCK);
  if (fifo < 0) die("fifo");

  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (uffd >= 0 && dup2(uffd, 199) != 199) die("dup2 uffd");

  printf("ready {\"uffd\":%d,\"filemap\":\"%lx\",\"anon\":\"%lx\",\"nodump\":\"%lx\",\"reg\":%d,\"app\":%d,"
         "\"dir\":%d,\"null\":%d,\"pipeRead\":%d,\"pipeWrite\":%d,\"fifo\":%d}\n",
         uffd, (unsigned long)filemap, (unsigned long)anon, (unsigned long)nodump, reg, app, dfd, null, p[0], p[1], fifo);
  fflush(stdout);
}

static void check(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 4) != 0) die("listen");
  socklen_t len = sizeof addr;
  if (getsockname(s, (struct sockaddr *)&addr, &len) != 0) die("getsockname");
  // A connection whose other end is closed: cr cannot restore it (the listener it can).
  int client = socket(AF_INET, SOCK_STREAM, 0), accepted;
  if (client < 0 || connect(client, (struct sockaddr *)&addr, len) != 0 || (accepted = accept(s, NULL, NULL)) < 0) die("connect");
  close(accepted);
  close(s);
  s = client;
  int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY);
  if (fan < 0) die("fanotify_init");
  unsigned char params[120] = {0}; /* struct io_uring_params */
  long ring = syscall(425 /* io_uring_setup */, 4, params);
  if (ring < 0) die("io_uring_setup");
  printf("ready {\"socket\":%d,\"port\":%d,\"fanotify\":%d,\"ring\":%ld}\n", s, ntohs(addr.sin_port), fan, ring);
  fflush(stdout);
}

static void shared(const char *dir) {
  void *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (anon == MAP_FAILED) die("shared anon");
  char path[4096];
  snprintf(path, sizeof path, "%s/shared", dir);
  int f = open(path, O_RDWR | O_CREAT, 0600);
  if (f < 0 || ftruncate(f, 4096) != 0) die("shared file");
  void *filemap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (filemap == MAP_FAILED) die("mmap shared file");
  int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (shmid < 0) die("shmget");
  void *shm = shmat(shmid, NULL, 0);
  if (shm == (void *)-1) die("shmat");
  shmctl(shmid, IPC_RMID, NULL);
  int mfd = memfd_create("crtest", 0);
  if (mfd < 0 || ftruncate(mfd, 4096) != 0) die("memfd");
  void *memfd = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (memfd == MAP_FAILED) die("mmap memfd");
  unsigned char params[120] = {0}; /* struct io_uring_params */
  long ring = syscall(425 /* io_uring_setup */, 4, params);
  if (ring >= 0 && mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, (int)ring, 0) == MAP_FAILED) die("mmap ring");
  void *tramp = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (tramp == MAP_FAILED) die("mmap trampoline");
  int named = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, tramp, 4096, "cr-trampoline") == 0;
  printf("ready {\"anon\":\"%lx\",\"file\":\"%lx\",\"shm\":\"%lx\",\"memfdMap\":\"%lx\",\"memfd\":%d,"
         "\"ring\":%ld,\"trampoline\":\"%lx\",\"named\":%d}\n",
         (unsigned long)anon, (unsigned long)filemap, (unsigned long)shm, (unsigned long)memfd, mfd, ring,
         (unsigned long)tramp, named);
  fflush(stdout);
}

static void fill(void *at, int seed, size_t bytes) {
  for (size_t i = 0; i < bytes; i++) ((unsigned char *)at)[i] = (unsigned char)(seed + i * 7);
}

static void shmem(void) {
  char page[4096];
  int mfd = memfd_create("crtest-shmem", MFD_ALLOW_SEALING);
  if (mfd < 0 || ftruncate(mfd, 4 * 4096) != 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW) != 0) die("memfd");
  char *map = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (map == MAP_FAILED) die("mmap memfd");
  fill(map, 1, 4096);
  fill(page, 3, 4096);
  if (pwrite(mfd, page, 4096, 3 * 4096) != 4096) die("pwrite memfd");
  int sfd = memfd_create("crtest-sealed", MFD_ALLOW_SEALING);
  fill(page, 5, 4096);
  if (sfd < 0 || write(sfd, page, 4096) != 4096 || fcntl(sfd, F_ADD_SEALS, F_SEAL_WRITE) != 0) die("sealed memfd");
  void *sealed = mmap(NULL, 4096, PROT_READ, MAP_SHARED, sfd, 0);
  if (sealed == MAP_FAILED) die("mmap sealed");
  close(sfd);
  char path[64];
  snprintf(path, sizeof path, "/dev/shm/crtest-shmem-%d", getpid());
  int shm = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
  if (shm < 0 || ftruncate(shm, 2 * 4096) != 0) die("shm");
  char *shmap = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (shmap == MAP_FAILED) die("mmap shm");
  close(shm);
  fill(shmap, 7, 4096);
  char deleted_path[64];
  snprintf(deleted_path, sizeof deleted_path, "/dev/shm/crtest-deleted-%d", getpid());
  int deleted = open(deleted_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  fill(page, 9, 100);
  if (deleted < 0 || write(deleted, page, 100) != 100 || unlink(deleted_path) != 0) die("deleted shm");
  printf("ready {\"memfd\":%d,\"memfdMap\":\"%lx\",\"sealedMap\":\"%lx\",\"shmPath\":\"%s\",\"shmMap\":\"%lx\",\"deleted\":%d,\"deletedPath\":\"%s\"}\n",
         mfd, (unsigned long)map, (unsigned long)sealed, path, (unsigned long)shmap, deleted, deleted_path);
  fflush(stdout);
}

/** A file of DIR created read-write with `mode`, `bytes` of `c` written, and unlinked. */
static int deleted_file(const char *dir, const char *name, mode_t mode, char c, size_t bytes) {
  char path[4096], page[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, mode);
  if (fd < 0 || fchmod(fd, mode) != 0) die(name);
  memset(page, c, sizeof page);
  for (size_t done = 0; done < bytes; done += sizeof page) {
    if (write(fd, page, bytes - done < sizeof page ? bytes - done : sizeof page) < 0) die(name);
  }
  if (unlink(path) != 0) die(name);
  return fd;
}

#define BIG_BYTES ((256 << 20) + 4096)

static void ghosts(const char *dir) {
  int sparse = deleted_file(dir, "sparse", 0640, 0, 0);
  if (pwrite(sparse, "head", 4, 0) != 4 || pwrite(sparse, "tail", 4, 3 << 20) != 4) die("sparse");
  int tmp = open(dir, O_TMPFILE | O_RDWR, 0600);
  if (tmp < 0 || write(tmp, "unnamed", 7) != 7) die("O_TMPFILE");
  int m = deleted_file(dir, "mapped", 0600, 'm', 8192);
  void *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
  if (map == MAP_FAILED) die("mmap mapped");
  close(m);
  char path[4096], other[4096];
  snprintf(path, sizeof path, "%s/linked", dir);
  snprintf(other, sizeof other, "%s/other", dir);
  int linked = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (linked < 0 || link(path, other) != 0 || unlink(path) != 0) die("linked");
  snprintf(path, sizeof path, "%s/sub", dir);
  if (mkdir(path, 0700) != 0) die("sub");
  snprintf(other, sizeof other, "sub/gone");
  int gone = deleted_file(dir, other, 0600, 'g', 10);
  if (rmdir(path) != 0) die("rmdir sub");
  int big = deleted_file(dir, "big", 0600, 'b', BIG_BYTES);
  printf("ready {\"sparse\":%d,\"tmpfile\":%d,\"mapped\":\"%lx\",\"linked\":%d,\"gone\":%d,\"big\":%d}\n", sparse, tmp, (unsigned long)map, linked, gone, big);
  fflush(stdout);
}

int main(int argc, char **argv) {
  printf("pid %d\n", getpid());
  if (argc >= 2 && strcmp(argv[1], "clean") == 0) {
    printf("ready {}\n");
    fflush(stdout);
  } else if (argc >= 4 && strcmp(argv[1], "state") == 0) {
    state(argv[2], argv[3]);
  } else if (argc >= 2 && strcmp(argv[1], "check") == 0) {
    check();
  } else if (argc >= 3 && strcmp(argv[1], "shared") == 0) {
    shared(argv[2]);
  } else if (argc >= 2 && strcmp(argv[1], "shmem") == 0) {
    shmem();
  } else if (argc >= 3 && strcmp(argv[1], "ghosts") == 0) {
    ghosts(argv[2]);
  } else {
    fprintf(stderr, "usage: proc_target clean | state DIR FILE | check | shared DIR | shmem | ghosts DIR\n");
    return 2;
  }
  serve();
  return 0;
}

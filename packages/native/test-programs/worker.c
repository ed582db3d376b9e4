// Test target with several behaviours, each of which checks its own results and prints
// "FAIL ..." if anything a checkpoint could disturb went wrong (EINTR, wrong values).
//   worker spin      single thread counting, prints "alive N" every 20 ms
//   worker threads   8 counting threads plus a spawner creating short-lived threads
//   worker sleep     nanosleep(200 ms) in a loop, checks it returns 0 and slept long enough
//   worker read      read(0) in a loop, prints "read N <text>" for each chunk
//   worker busy      sleeper + pipe reader/writer + compute threads, prints "alive a b c"
//   worker sigs      blocks SIGUSR1/SIGUSR2, queues one of each, then sleeps
//   worker zombie    forks a child that exits at once, never reaps it, prints "zombie PID"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_long counters[16];
static atomic_long spawned;

static void fail(const char *what) {
  printf("FAIL %s: %s\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  if (nanosleep(&ts, NULL) != 0) fail("nanosleep");
}

static void *count_loop(void *arg) {
  long i = (long)arg;
  for (;;) atomic_fetch_add(&counters[i], 1);
  return NULL;
}

static void *short_lived(void *arg) {
  (void)arg;
  volatile long x = 0;
  for (int i = 0; i < 10000; i++) x += i;
  return NULL;
}

static void *spawner(void *arg) {
  (void)arg;
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_lived, NULL) != 0) fail("pthread_create");
    pthread_join(t, NULL);
    atomic_fetch_add(&spawned, 1);
  }
  return NULL;
}

static void start(void *(*fn)(void *), long arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, (void *)arg) != 0) fail("pthread_create");
}

static void report_forever(int nthreads) {
  for (;;) {
    long total = 0;
    for (int i = 0; i < nthreads; i++) total += atomic_load(&counters[i]);
    printf("alive %ld %ld\n", total, atomic_load(&spawned));
    fflush(stdout);
    sleep_ms(20);
  }
}

static void mode_threads(void) {
  for (long i = 0; i < 8; i++) start(count_loop, i);
  start(spawner, 0);
  report_forever(8);
}

static void mode_spin(void) {
  for (;;) {
    double until = now() + 0.02;
    while (now() < until) atomic_fetch_add(&counters[0], 1);
    printf("alive %ld 0\n", atomic_load(&counters[0]));
    fflush(stdout);
  }
}

static void mode_sleep(void) {
  for (long n = 1;; n++) {
    double before = now();
    sleep_ms(200);
    if (now() - before < 0.199) {
      errno = 0;
      fail("nanosleep returned early");
    }
    printf("slept %ld\n", n);
    fflush(stdout);
  }
}

static void mode_read(void) {
  char buf[256];
  for (long n = 1;; n++) {
    ssize_t r = read(0, buf, sizeof buf - 1);
    if (r < 0) fail("read");
    if (r == 0) exit(0);
    buf[r] = 0;
    printf("read %ld %s\n", n, buf);
    fflush(stdout);
  }
}

static int busy_pipe[2];

static void *busy_sleeper(void *arg) {
  (void)arg;
  for (;;) {
    double before = now();
    sleep_ms(3);
    if (now() - before < 0.0029) fail("short nanosleep");
    atomic_fetch_add(&counters[0], 1);
  }
  return NULL;
}

static void *busy_writer(void *arg) {
  (void)arg;
  for (uint32_t seq = 0;; seq++) {
    if (write(busy_pipe[1], &seq, sizeof seq) != sizeof seq) fail("write");
    sleep_ms(2);
  }
  return NULL;
}

static void *busy_reader(void *arg) {
  (void)arg;
  for (uint32_t expect = 0;; expect++) {
    uint32_t seq;
    ssize_t r = read(busy_pipe[0], &seq, sizeof seq);
    if (r != sizeof seq) fail("read");
    if (seq != expect) {
      errno = 0;
      fail("pipe sequence");
    }
    atomic_fetch_add(&counters[1], 1);
  }
  return NULL;
}

static uint64_t mix(uint64_t seed) {
  for (int i = 0; i < 100000; i++) seed = seed * 6364136223846793005ull + 1442695040888963407ull;
  return seed;
}

// The same computation twice must agree: corrupted registers would make them differ.
static void *busy_compute(void *arg) {
  (void)arg;
  for (uint64_t seed = 1;; seed++) {
    if (mix(seed) != mix(seed)) {
      errno = 0;
      fail("compute mismatch");
    }
    atomic_fetch_add(&counters[2], 1);
  }
  return NULL;
}

static void mode_busy(void) {
  if (pipe(busy_pipe) != 0) fail("pipe");
  start(busy_sleeper, 0);
  start(busy_writer, 0);
  start(busy_reader, 0);
  start(busy_compute, 0);
  for (;;) {
    printf("alive %ld %ld %ld\n", atomic_load(&counters[0]), atomic_load(&counters[1]), atomic_load(&counters[2]));
    fflush(stdout);
    sleep_ms(20);
  }
}

static void mode_sigs(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) fail("sigprocmask");
  if (syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) != 0) fail("tgkill");
  if (kill(getpid(), SIGUSR2) != 0) fail("kill");
  printf("ready\n");
  fflush(stdout);
  for (;;) sleep_ms(1000);
}

static void mode_zombie(void) {
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) _exit(0);
  printf("zombie %d\n", child);
  fflush(stdout);
  for (;;) pause();
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "spin";
  if (strcmp(mode, "sigs") != 0 && strcmp(mode, "zombie") != 0) {
    printf("ready\n");
    fflush(stdout);
  }
  if (!strcmp(mode, "spin")) mode_spin();
  if (!strcmp(mode, "threads")) mode_threads();
  if (!strcmp(mode, "sleep")) mode_sleep();
  if (!strcmp(mode, "read")) mode_read();
  if (!strcmp(mode, "busy")) mode_busy();
  if (!strcmp(mode, "sigs")) mode_sigs();
  if (!strcmp(mode, "zombie")) mode_zombie();
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}

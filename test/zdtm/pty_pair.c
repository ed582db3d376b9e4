// zdtm: pass
// A pseudo-terminal pair the program made (as script, expect or tmux do; it was refused): the
// master in the parent, the slave the controlling terminal of a child in a session of its own,
// in raw mode at 22x77, the child's group in the foreground. After the restart the pair is made
// again: the child's descriptors are on the master's slave, which is its controlling terminal with
// its group in the foreground, the settings are as the program left them, and bytes go both ways.
#include "zdtm.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

static void child(const char* slave) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // killed with the parent, as the test kills only it
  if (setsid() < 0) _exit(10);
  int fd = open(slave, O_RDWR);
  if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(11);
  struct termios t;
  tcgetattr(0, &t);
  cfmakeraw(&t);
  struct winsize w = {.ws_row = 22, .ws_col = 77};
  if (tcsetattr(0, TCSANOW, &t) < 0 || ioctl(0, TIOCSWINSZ, &w) < 0) _exit(12);
  for (char c;;) {
    ssize_t n = read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;  // a stop interrupts it
    if (n != 1 || c == 'q') _exit(n == 1 ? 0 : 13);
    c++;
    if (write(1, &c, 1) != 1) _exit(14);
  }
}

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  zdtm_require(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "posix_openpt");
  pid_t pid = fork();
  zdtm_require(pid >= 0, "fork");
  if (pid == 0) child(ptsname(master));
  struct termios t;
  for (int i = 0; i < 500 && (tcgetattr(master, &t) != 0 || (t.c_lflag & ICANON)); i++) usleep(2000);  // the child set raw mode
  zdtm_ready();
  zdtm_wait();
  const char* slave = ptsname(master);
  char link[64], target[256] = {0};
  snprintf(link, sizeof link, "/proc/%d/fd/0", pid);
  if (readlink(link, target, sizeof target - 1) < 0 || strcmp(target, slave)) zdtm_fail("the child's fd 0 is %s, not the master's slave %s", target, slave);
  char path[64], stat_text[1024] = {0};
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int s = open(path, O_RDONLY);
  if (s < 0 || read(s, stat_text, sizeof stat_text - 1) <= 0) zdtm_fail("cannot read %s", path);
  close(s);
  int session = 0, tty = 0, tpgid = 0;
  if (sscanf(strrchr(stat_text, ')') + 2, "%*c %*d %*d %d %d %d", &session, &tty, &tpgid) != 3) zdtm_fail("cannot parse %s", path);
  struct stat st;
  stat(slave, &st);
  if (session != pid || (dev_t)tty != st.st_rdev || tpgid != pid) zdtm_fail("the child's session %d, terminal %x, foreground group %d: not %d, %lx, %d", session, tty, tpgid, pid, (unsigned long)st.st_rdev, pid);
  struct winsize w;
  if (tcgetattr(master, &t) != 0 || (t.c_lflag & (ICANON | ECHO)) || ioctl(master, TIOCGWINSZ, &w) != 0 || w.ws_row != 22 || w.ws_col != 77) zdtm_fail("the terminal's settings differ (lflag %o, %dx%d)", t.c_lflag, w.ws_row, w.ws_col);
  char c = 'a';
  if (write(master, &c, 1) != 1 || read(master, &c, 1) != 1 || c != 'b') zdtm_fail("the child answered '%c' to 'a' through the pair, not 'b'", c);
  c = 'q';
  int status = 0;
  if (write(master, &c, 1) != 1 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) zdtm_fail("the child ended with status %x", status);
  zdtm_pass();
}

// zdtm: pass
// Descriptors that share one open file description (dup, dup2) still share it after the
// restart: moving the offset or setting O_APPEND through one shows through the others, while a
// second open of the same file keeps its own offset.
#include "zdtm.h"

int main(int argc, char** argv) {
  zdtm_init(argc, argv);
  int a = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
  zdtm_require(a >= 0 && write(a, "0123456789", 10) == 10, "create data");
  int b = dup(a), c = dup2(a, 50), other = open("data", O_RDONLY);
  zdtm_require(b >= 0 && c == 50 && other >= 0, "dup, dup2, open");
  zdtm_require(lseek(a, 3, SEEK_SET) == 3 && lseek(other, 7, SEEK_SET) == 7, "lseek");
  zdtm_ready();
  zdtm_wait();
  const int sharers[] = {a, b, c};
  for (int i = 0; i < 3; i++) {
    if (lseek(sharers[i], 0, SEEK_CUR) != 3) zdtm_fail("fd %d: offset %lld after restart, expected 3", sharers[i], (long long)lseek(sharers[i], 0, SEEK_CUR));
  }
  if (lseek(other, 0, SEEK_CUR) != 7) zdtm_fail("the second open: offset %lld, expected 7", (long long)lseek(other, 0, SEEK_CUR));
  if (lseek(b, 5, SEEK_SET) != 5) zdtm_fail("lseek through the dup: %s", strerrorname_np(errno));
  if (lseek(a, 0, SEEK_CUR) != 5 || lseek(c, 0, SEEK_CUR) != 5) zdtm_fail("moving the dup's offset did not move fds %d and %d: not one open file any more", a, c);
  if (lseek(other, 0, SEEK_CUR) != 7) zdtm_fail("moving the dup's offset moved the second open's");
  if (fcntl(c, F_SETFL, O_APPEND) != 0) zdtm_fail("F_SETFL O_APPEND: %s", strerrorname_np(errno));
  if (!(fcntl(a, F_GETFL) & O_APPEND) || !(fcntl(b, F_GETFL) & O_APPEND)) zdtm_fail("O_APPEND set through fd 50 does not show through its dups");
  if (fcntl(other, F_GETFL) & O_APPEND) zdtm_fail("O_APPEND set through fd 50 shows through the second open");
  zdtm_pass();
}

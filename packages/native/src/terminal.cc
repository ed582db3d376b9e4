#include "terminal.h"

#include <asm/termbits.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "args.h"
#include "errors.h"

Napi::Value TerminalSettings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  struct termios2 t {};
  struct winsize w {};
  if (ioctl(fd, TCGETS2, &t) < 0) return Throw(env, SysFailure("ioctl TCGETS2"));
  if (ioctl(fd, TIOCGWINSZ, &w) < 0) return Throw(env, SysFailure("ioctl TIOCGWINSZ"));
  Napi::Object out = Napi::Object::New(env);
  out.Set("termios", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&t), sizeof t));
  out.Set("winsize", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&w), sizeof w));
  return out;
}

namespace {

// A call on cr's controlling terminal that a background group may make: with SIGTTOU blocked
// the kernel lets it through instead of stopping cr (cr is in the background while it lends the
// terminal to a job, and when the job ends).
template <typename Call>
int WithoutTtou(Call call) {
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  int ret = call();
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return ret;
}

}  // namespace

Napi::Value SetTermios(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  Napi::Buffer<uint8_t> termios;
  if (!ArgInt(info, 0, "fd", fd) || !ArgBuffer(info, 1, "termios", termios)) return env.Undefined();
  if (termios.Length() != sizeof(struct termios2)) return ThrowType(env, "termios must be a struct termios2 (" + std::to_string(sizeof(struct termios2)) + " bytes)");
  if (WithoutTtou([&] { return ioctl(fd, TCSETS2, termios.Data()); }) < 0) return Throw(env, SysFailure("ioctl TCSETS2"));
  return env.Undefined();
}

Napi::Value OpenPtyPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags;
  if (!ArgInt(info, 0, "flags", flags)) return env.Undefined();
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | (flags & O_NONBLOCK));
  if (master < 0) return Throw(env, SysFailure("open /dev/ptmx"));
  int unlock = 0, index = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &index) < 0) {
    Failure f = SysFailure("ioctl TIOCSPTLCK/TIOCGPTN");
    close(master);
    return Throw(env, f);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("master", master);
  out.Set("index", index);
  return out;
}

Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  Napi::Buffer<uint8_t> winsize;
  if (!ArgInt(info, 0, "fd", fd) || !ArgBuffer(info, 1, "winsize", winsize)) return env.Undefined();
  if (winsize.Length() != sizeof(struct winsize)) return ThrowType(env, "winsize must be a struct winsize (8 bytes)");
  if (ioctl(fd, TIOCSWINSZ, winsize.Data()) < 0) return Throw(env, SysFailure("ioctl TIOCSWINSZ"));
  return env.Undefined();
}

Napi::Value SetForeground(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, pgrp;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "pgrp", pgrp)) return env.Undefined();
  if (WithoutTtou([&] { return ioctl(fd, TIOCSPGRP, &pgrp); }) < 0) return Throw(env, SysFailure("tcsetpgrp"));
  return env.Undefined();
}

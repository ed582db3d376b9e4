#include "epoll.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "args.h"
#include "errors.h"

Napi::Value CreateEpoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = 0;
  if (!ArgInt(info, 0, "flags", flags)) return env.Undefined();
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("epoll_create1"));
  if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
    Failure f = SysFailure("fcntl");
    close(fd);
    return Throw(env, f);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value EpollWatchIs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0, epfd = 0, tfd = 0, toff = 0, fd = 0;
  if (!ArgInt(info, 0, "pid", pid) || !ArgInt(info, 1, "epfd", epfd) || !ArgInt(info, 2, "tfd", tfd) || !ArgInt(info, 3, "toff", toff) || !ArgInt(info, 4, "fd", fd)) return env.Undefined();
  struct kcmp_epoll_slot slot = {static_cast<uint32_t>(epfd), static_cast<uint32_t>(tfd), static_cast<uint32_t>(toff)};
  long order = syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, fd, &slot);
  if (order < 0) return Throw(env, SysFailure("kcmp", pid));
  return Napi::Boolean::New(env, order == 0);
}

#include "descriptions.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "args.h"
#include "procfs.h"

#ifndef F_GETOWNER_UIDS
#define F_GETOWNER_UIDS 17  // asm-generic/fcntl.h; glibc does not name it
#endif

Status TakeFd(int pid, long fd, int& taken) {
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.ok()) return SysFailure("pidfd_open", pid);
  taken = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(fd), 0));
  if (taken < 0) return SysFailure("pidfd_getfd", pid);
  return std::nullopt;
}

Napi::Value TakeFdMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid, fd, taken = -1;
  if (!ArgInt(info, 0, "pid", pid) || !ArgInt(info, 1, "fd", fd)) return env.Undefined();
  if (Status s = TakeFd(pid, fd, taken)) return Throw(env, *s);
  return Napi::Number::New(env, taken);
}

Napi::Value FileOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  f_owner_ex owner{};
  uid_t uids[2] = {0, 0};
  if (fcntl(fd, F_GETOWN_EX, &owner) < 0) return Throw(env, SysFailure("fcntl F_GETOWN_EX"));
  int signal = fcntl(fd, F_GETSIG);
  if (signal < 0) return Throw(env, SysFailure("fcntl F_GETSIG"));
  if (syscall(SYS_fcntl, fd, F_GETOWNER_UIDS, uids) < 0) return Throw(env, SysFailure("fcntl F_GETOWNER_UIDS"));
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", static_cast<int>(owner.type));
  out.Set("pid", owner.pid);
  out.Set("signal", signal);
  out.Set("uid", static_cast<double>(uids[0]));
  out.Set("euid", static_cast<double>(uids[1]));
  return out;
}

Napi::Object FcntlConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("F_SETFD", F_SETFD);
  c.Set("F_SETFL", F_SETFL);
  c.Set("F_SETLK", F_SETLK);
  c.Set("F_SETOWN_EX", F_SETOWN_EX);
  c.Set("F_SETSIG", F_SETSIG);
  c.Set("F_SETLEASE", F_SETLEASE);
  c.Set("F_OFD_SETLK", F_OFD_SETLK);
  c.Set("F_OWNER_TID", static_cast<int>(F_OWNER_TID));
  c.Set("F_OWNER_PID", static_cast<int>(F_OWNER_PID));
  c.Set("F_OWNER_PGRP", static_cast<int>(F_OWNER_PGRP));
  c.Set("F_RDLCK", F_RDLCK);
  c.Set("F_WRLCK", F_WRLCK);
  c.Set("FD_CLOEXEC", FD_CLOEXEC);
  c.Set("O_ASYNC", O_ASYNC);
  c.Set("LOCK_SH", LOCK_SH);
  c.Set("LOCK_EX", LOCK_EX);
  c.Set("LOCK_NB", LOCK_NB);
  return c;
}

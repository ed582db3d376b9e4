#include "signalfd.h"

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "args.h"
#include "errors.h"

Napi::Value CreateSignalfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t mask = 0;
  int flags = 0;
  if (!ArgU64(info, 0, "mask", mask) || !ArgInt(info, 1, "flags", flags)) return env.Undefined();
  // The kernel's 64-bit sigset, as saved: glibc's sigaddset refuses the signals it keeps for
  // itself (32, 33), which a program's mask may still hold.
  long fd = syscall(SYS_signalfd4, -1, &mask, sizeof mask, (flags & SFD_NONBLOCK) | SFD_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("signalfd4"));
  return Napi::Number::New(env, static_cast<double>(fd));
}

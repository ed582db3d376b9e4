#include "eventfd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "args.h"
#include "errors.h"

Napi::Value CreateEventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t count = 0;
  int flags = 0;
  if (!ArgU64(info, 0, "count", count) || !ArgInt(info, 1, "flags", flags)) return env.Undefined();
  int fd = eventfd(0, (flags & (EFD_SEMAPHORE | EFD_NONBLOCK)) | EFD_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("eventfd"));
  // From 0, a write of up to 2^64 - 2 never blocks.
  if (count > 0 && write(fd, &count, sizeof count) != sizeof count) {
    Failure f = SysFailure("write");
    close(fd);
    return Throw(env, f);
  }
  return Napi::Number::New(env, fd);
}

#include "timerfd.h"

#include <sys/ioctl.h>
#include <sys/timerfd.h>
// After glibc's: only the uapi header has the ioctl (glibc's enum names the same flags).
#include <linux/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "args.h"
#include "errors.h"

namespace {

constexpr uint64_t kNsPerSec = 1000000000;

timespec FromNs(uint64_t ns) {
  return {static_cast<time_t>(ns / kNsPerSec), static_cast<long>(ns % kNsPerSec)};
}

// The deadline settime takes: the time left, or with TFD_TIMER_ABSTIME the clock's now plus it.
Status Deadline(int clockid, int settimeFlags, uint64_t valueNs, timespec& out) {
  out = FromNs(valueNs);
  if (valueNs == 0 || !(settimeFlags & TFD_TIMER_ABSTIME)) return std::nullopt;
  timespec now;
  if (clock_gettime(clockid, &now) != 0) return SysFailure("clock_gettime");
  out.tv_sec += now.tv_sec;
  out.tv_nsec += now.tv_nsec;
  if (out.tv_nsec >= static_cast<long>(kNsPerSec)) out.tv_sec++, out.tv_nsec -= static_cast<long>(kNsPerSec);
  return std::nullopt;
}

Status Arm(int fd, int clockid, int settimeFlags, uint64_t valueNs, uint64_t intervalNs, uint64_t ticks) {
  itimerspec spec{FromNs(intervalNs), {}};
  if (Status s = Deadline(clockid, settimeFlags, valueNs, spec.it_value)) return s;
  if (timerfd_settime(fd, settimeFlags, &spec, nullptr) != 0) return SysFailure("timerfd_settime");
  // The kernel refuses 0 ticks; a timer without any has nothing to set.
  if (ticks > 0 && ioctl(fd, TFD_IOC_SET_TICKS, &ticks) != 0) return SysFailure("ioctl(TFD_IOC_SET_TICKS)");
  return std::nullopt;
}

}  // namespace

Napi::Value CatchUpTimerfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = 0;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  itimerspec now;
  if (timerfd_gettime(fd, &now) != 0) return Throw(env, SysFailure("timerfd_gettime"));
  return env.Undefined();
}

Napi::Value CreateTimerfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int clockid = 0, flags = 0, settimeFlags = 0;
  uint64_t valueNs = 0, intervalNs = 0, ticks = 0;
  if (!ArgInt(info, 0, "clockid", clockid) || !ArgInt(info, 1, "flags", flags) || !ArgInt(info, 2, "settimeFlags", settimeFlags) ||
      !ArgU64(info, 3, "valueNs", valueNs) || !ArgU64(info, 4, "intervalNs", intervalNs) || !ArgU64(info, 5, "ticks", ticks)) {
    return env.Undefined();
  }
  int fd = timerfd_create(clockid, (flags & TFD_NONBLOCK) | TFD_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("timerfd_create"));
  if (Status s = Arm(fd, clockid, settimeFlags, valueNs, intervalNs, ticks)) {
    close(fd);
    return Throw(env, *s);
  }
  return Napi::Number::New(env, fd);
}

// A traced thread's seccomp filters: read back (PTRACE_SECCOMP_GET_FILTER, CAP_SYS_ADMIN) for
// the image, and suspended while cr injects syscalls into it (PTRACE_O_SUSPEND_SECCOMP).
#include "seccomp.h"

#include <linux/filter.h>
#include <sys/ptrace.h>

#include <cerrno>
#include <vector>

#include "args.h"
#include "errors.h"

Napi::Value SeccompFilters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  // Index 0 is the oldest filter (the kernel counts back from the newest); ENOENT past the newest.
  Napi::Array out = Napi::Array::New(env);
  for (unsigned long index = 0;; index++) {
    long count = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(index), nullptr);
    if (count < 0 && errno == ENOENT) break;
    if (count < 0) return Throw(env, SysFailure("ptrace(PTRACE_SECCOMP_GET_FILTER)", tid));
    std::vector<sock_filter> program(static_cast<size_t>(count));
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(index), program.data()) != count) {
      return Throw(env, SysFailure("ptrace(PTRACE_SECCOMP_GET_FILTER)", tid));
    }
    __ptrace_seccomp_metadata meta{index, 0};
    if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, reinterpret_cast<void*>(sizeof meta), &meta) < 0) {
      return Throw(env, SysFailure("ptrace(PTRACE_SECCOMP_GET_METADATA)", tid));
    }
    Napi::Object filter = Napi::Object::New(env);
    filter.Set("flags", Napi::Number::New(env, static_cast<double>(meta.flags)));
    filter.Set("program", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(program.data()), program.size() * sizeof(sock_filter)));
    out.Set(static_cast<uint32_t>(index), filter);
  }
  return out;
}

Napi::Value SuspendSeccomp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  // The seize options (freeze.cc) plus the suspension.
  long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP;
  if (ptrace(PTRACE_SETOPTIONS, tid, nullptr, reinterpret_cast<void*>(options)) != 0) return Throw(env, SysFailure("ptrace(PTRACE_SETOPTIONS, PTRACE_O_SUSPEND_SECCOMP)", tid));
  return env.Undefined();
}

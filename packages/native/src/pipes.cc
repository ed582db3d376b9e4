#include "pipes.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <climits>

#include "errors.h"

Napi::Value CreatePipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return Throw(env, SysFailure("pipe2"));
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value CloseOnExecFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "closeOnExecFrom(first)");
  if (close_range(info[0].As<Napi::Number>().Uint32Value(), UINT_MAX, CLOSE_RANGE_CLOEXEC) < 0) return Throw(env, SysFailure("close_range"));
  return env.Undefined();
}

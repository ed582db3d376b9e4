#include "pipes.h"

#include <fcntl.h>
#include <unistd.h>

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

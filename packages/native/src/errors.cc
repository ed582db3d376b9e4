#include "errors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

struct ErrorClassData {
  Napi::FunctionReference ctor;
};

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E" + std::to_string(err);
}

std::string FormatMessage(const Failure& f) {
  std::string m = f.syscall;
  if (f.pid) m += " pid " + std::to_string(f.pid);
  if (f.address) {
    char hex[32];
    std::snprintf(hex, sizeof hex, " address 0x%llx", static_cast<unsigned long long>(*f.address));
    m += hex;
  }
  if (!f.path.empty()) m += " path " + f.path;
  m += ": " + std::string(strerror(f.err)) + " (" + ErrnoName(f.err) + ")";
  if (!f.detail.empty()) m += ": " + f.detail;
  return m;
}

Napi::Object Properties(Napi::Env env, const Failure& f) {
  Napi::Object props = Napi::Object::New(env);
  props.Set("code", ErrnoName(f.err));
  props.Set("errno", f.err);
  props.Set("syscall", f.syscall);
  if (f.pid) props.Set("pid", f.pid);
  if (f.address) props.Set("address", Napi::BigInt::New(env, static_cast<uint64_t>(*f.address)));
  if (!f.path.empty()) props.Set("path", f.path);
  return props;
}

}  // namespace

Failure SysFailure(int err, const std::string& syscall, int pid) {
  Failure f;
  f.err = err;
  f.syscall = syscall;
  f.pid = pid;
  return f;
}

Failure SysFailure(const std::string& syscall, int pid) { return SysFailure(errno, syscall, pid); }

Napi::Value ErrorValue(Napi::Env env, const Failure& f) {
  std::string message = FormatMessage(f);
  ErrorClassData* data = env.GetInstanceData<ErrorClassData>();
  // No class only if the addon is used without index.ts; still carry the text.
  if (!data) return Napi::Error::New(env, message).Value();
  return data->ctor.New({Napi::String::New(env, message), Properties(env, f)});
}

Napi::Value Throw(Napi::Env env, const Failure& f) {
  Napi::Value error = ErrorValue(env, f);
  if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) return ThrowType(env, "setErrorClass(cls): cls must be a class");
  auto* data = new ErrorClassData{Napi::Persistent(info[0].As<Napi::Function>())};
  env.SetInstanceData<ErrorClassData>(data);
  return env.Undefined();
}

#include "kcmp.h"

#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errors.h"

Napi::Value SameOpenFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) return ThrowType(env, "sameOpenFile(pidA, fdA, pidB, fdB)");
  for (size_t i = 0; i < 4; i++) {
    if (!info[i].IsNumber()) return ThrowType(env, "sameOpenFile(pidA, fdA, pidB, fdB)");
  }
  int pidA = info[0].As<Napi::Number>().Int32Value(), pidB = info[2].As<Napi::Number>().Int32Value();
  long a = info[1].As<Napi::Number>().Int32Value(), b = info[3].As<Napi::Number>().Int32Value();
  // 0: equal; 1, 2: ordered by the kernel's (obfuscated) pointers; 3: not comparable.
  long order = syscall(SYS_kcmp, pidA, pidB, KCMP_FILE, a, b);
  if (order < 0) return Throw(env, SysFailure("kcmp", pidA));
  return Napi::Boolean::New(env, order == 0);
}

Napi::Value SameMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "sameMemory(pidA, pidB)");
  int a = info[0].As<Napi::Number>().Int32Value(), b = info[1].As<Napi::Number>().Int32Value();
  long order = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);
  if (order < 0) return Throw(env, SysFailure("kcmp", a));
  return Napi::Boolean::New(env, order == 0);
}

// Errors that cross into JavaScript: every kernel failure names the syscall, the errno and
// the pid/address/path it was about, and arrives in JS as the NativeError class from index.ts.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

struct Failure {
  int err = 0;
  std::string syscall;
  int pid = 0;
  std::optional<uint64_t> address;
  std::string path;
  std::string detail;  // extra words after the errno text, e.g. "already traced by pid 42"
};

// nullopt means success; functions that can fail return a Status and fill out-parameters.
using Status = std::optional<Failure>;

// Builds a Failure from the current errno.
Failure SysFailure(const std::string& syscall, int pid = 0);
Failure SysFailure(int err, const std::string& syscall, int pid = 0);

// The failure as a NativeError object (to reject a promise with).
Napi::Value ErrorValue(Napi::Env env, const Failure& f);

// Throws the failure as a NativeError and returns undefined, for `return Throw(env, f);`.
Napi::Value Throw(Napi::Env env, const Failure& f);
Napi::Value ThrowType(Napi::Env env, const std::string& message);

// setErrorClass(cls): index.ts hands over its NativeError constructor at load.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info);

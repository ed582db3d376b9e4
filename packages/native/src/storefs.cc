// flock, O_TMPFILE and linking an unnamed file into place: with them a killed `cr` leaves
// neither a held lock nor a partial image behind (the kernel drops both with the process).
#include "storefs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "errors.h"

Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) return ThrowType(env, "lockFile(fd, mode, wait?)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string mode = info[1].As<Napi::String>().Utf8Value();
  bool wait = info.Length() < 3 || info[2].ToBoolean().Value();
  int op = mode == "exclusive" ? LOCK_EX : mode == "shared" ? LOCK_SH : LOCK_UN;
  if (!wait) op |= LOCK_NB;
  int rc;
  do rc = flock(fd, op);
  while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno == EWOULDBLOCK && !wait) return Napi::Boolean::New(env, false);
  if (rc < 0) return Throw(env, SysFailure("flock"));
  return Napi::Boolean::New(env, true);
}

Napi::Value OpenTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) return ThrowType(env, "openTmpfile(dir, mode)");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, info[1].As<Napi::Number>().Uint32Value());
  if (fd < 0) {
    Failure f = SysFailure("open(O_TMPFILE)");
    f.path = dir;
    return Throw(env, f);
  }
  return Napi::Number::New(env, fd);
}

// Through /proc/self/fd with AT_SYMLINK_FOLLOW: needs no capability, unlike AT_EMPTY_PATH.
Napi::Value LinkTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) return ThrowType(env, "linkTmpfile(fd, path)");
  std::string self = "/proc/self/fd/" + std::to_string(info[0].As<Napi::Number>().Int32Value());
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) < 0) {
    Failure f = SysFailure("linkat");
    f.path = path;
    return Throw(env, f);
  }
  return env.Undefined();
}

// Node's own buffers come from malloc: aligned to 16 bytes, not to the block size O_DIRECT needs.
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "alignedBuffer(bytes)");
  size_t bytes = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  void* memory = nullptr;
  if (bytes == 0 || bytes % 4096 != 0) return ThrowType(env, "alignedBuffer: bytes must be a positive multiple of 4096");
  if (posix_memalign(&memory, 4096, bytes) != 0) return Throw(env, SysFailure(ENOMEM, "posix_memalign"));
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(memory), bytes, [](Napi::Env, uint8_t* p) { free(p); });
}

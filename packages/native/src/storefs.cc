// File-system calls the store needs and Node does not offer: flock, O_TMPFILE and linking an
// unnamed file into place. They let a killed `cr` leave neither a held lock nor a partial image.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "errors.h"
#include "storefs.h"

namespace cr {

static Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string mode = info[1].As<Napi::String>().Utf8Value();
  bool wait = info.Length() < 3 || info[2].As<Napi::Boolean>().Value();
  int op = mode == "exclusive" ? LOCK_EX : mode == "shared" ? LOCK_SH : LOCK_UN;
  if (!wait) op |= LOCK_NB;
  int rc;
  do rc = flock(fd, op);
  while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno == EWOULDBLOCK && !wait) return Napi::Boolean::New(env, false);
  if (rc < 0) return ThrowErrno(env, "flock", ErrnoContext{});
  return Napi::Boolean::New(env, true);
}

static Napi::Value OpenTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
  if (fd < 0) return ThrowErrno(env, "open(O_TMPFILE)", ErrnoContext{.path = dir});
  return Napi::Number::New(env, fd);
}

// linkat through /proc/self/fd needs no capability, unlike AT_EMPTY_PATH.
static Napi::Value LinkTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) < 0)
    return ThrowErrno(env, "linkat", ErrnoContext{.path = path});
  return env.Undefined();
}

void InitStoreFs(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile));
  exports.Set("openTmpfile", Napi::Function::New(env, OpenTmpfile));
  exports.Set("linkTmpfile", Napi::Function::New(env, LinkTmpfile));
}

}  // namespace cr

#include "pipes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <climits>

#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "kernel_abi.h"

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

namespace {
// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};
}  // namespace

Napi::Value PeekPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", path)) return env.Undefined();
  // Non-blocking: a FIFO opened for reading would otherwise wait for a writer.
  Fd source{open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (source.fd < 0) return Throw(env, SysFailure("open " + path));
  int size = fcntl(source.fd, F_GETPIPE_SZ);
  if (size < 0) return Throw(env, SysFailure("fcntl F_GETPIPE_SZ " + path));
  int own[2];
  if (pipe2(own, O_CLOEXEC | O_NONBLOCK) < 0) return Throw(env, SysFailure("pipe2"));
  Fd reader{own[0]}, writer{own[1]};
  if (fcntl(writer.fd, F_SETPIPE_SZ, size) < 0) return Throw(env, SysFailure("fcntl F_SETPIPE_SZ"));
  ssize_t copied = tee(source.fd, writer.fd, INT_MAX, SPLICE_F_NONBLOCK);
  // EAGAIN: nothing buffered (and a writer exists).
  if (copied < 0 && errno != EAGAIN) return Throw(env, SysFailure("tee " + path));
  std::vector<uint8_t> bytes(copied > 0 ? copied : 0);
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = read(reader.fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return Throw(env, SysFailure("read of the teed pipe"));
    done += n;
  }
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

Napi::Value FillPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  Napi::Buffer<uint8_t> bytes;
  if (!ArgInt(info, 0, "writeFd", fd) || !ArgBuffer(info, 1, "bytes", bytes)) return env.Undefined();
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size < 0) return Throw(env, SysFailure("fcntl F_GETPIPE_SZ"));
  if (static_cast<size_t>(size) < bytes.Length() && fcntl(fd, F_SETPIPE_SZ, static_cast<int>(bytes.Length())) < 0) {
    return Throw(env, SysFailure("fcntl F_SETPIPE_SZ"));
  }
  for (size_t done = 0; done < bytes.Length();) {
    ssize_t n = write(fd, bytes.Data() + done, bytes.Length() - done);
    if (n < 0) return Throw(env, SysFailure("write to pipe"));
    done += n;
  }
  return env.Undefined();
}

Napi::Value PipeCapacity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size < 0) return Throw(env, SysFailure("fcntl F_GETPIPE_SZ"));
  return Napi::Number::New(env, size);
}

Napi::Value SetPipeCapacity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, size;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "bytes", size)) return env.Undefined();
  int set = fcntl(fd, F_SETPIPE_SZ, size);
  if (set < 0) return Throw(env, SysFailure("fcntl F_SETPIPE_SZ"));
  return Napi::Number::New(env, set);
}

Napi::Object PipeConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("PIPE_DEFAULT_SIZE", static_cast<double>(PIPE_DEF_BUFFERS * sysconf(_SC_PAGESIZE)));
  return c;
}

Napi::Value MakeFifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int mode;
  if (!ArgString(info, 0, "path", path) || !ArgInt(info, 1, "mode", mode)) return env.Undefined();
  if (mkfifo(path.c_str(), static_cast<mode_t>(mode)) < 0) return Throw(env, SysFailure("mkfifo " + path));
  return env.Undefined();
}

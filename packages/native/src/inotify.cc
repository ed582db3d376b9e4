#include "inotify.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "procfs.h"

Napi::Value OpenByHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int mountFd = 0, type = 0;
  Napi::Buffer<uint8_t> bytes;
  if (!ArgInt(info, 0, "mountFd", mountFd) || !ArgInt(info, 1, "type", type) || !ArgBuffer(info, 2, "handle", bytes)) return env.Undefined();
  std::vector<uint8_t> storage(sizeof(struct file_handle) + bytes.Length());
  auto* handle = reinterpret_cast<struct file_handle*>(storage.data());
  handle->handle_bytes = static_cast<unsigned int>(bytes.Length());
  handle->handle_type = type;
  memcpy(handle->f_handle, bytes.Data(), bytes.Length());
  int fd = open_by_handle_at(mountFd, handle, O_PATH | O_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("open_by_handle_at"));
  return Napi::Number::New(env, fd);
}

// Adds the watch of `path` so that it gets watch descriptor `wd`, every number below it taken
// and given back first; `last` is the highest watch descriptor already added.
static Status AddWatchAs(int fd, const std::string& path, uint32_t mask, int wd, int last) {
  for (;;) {
    int got = inotify_add_watch(fd, path.c_str(), mask);
    if (got < 0) {
      Failure f = SysFailure("inotify_add_watch");
      f.path = path;
      return f;
    }
    if (got == wd) return std::nullopt;
    if (got <= last || got > wd) {
      // An earlier watch's file (now one file with this one), or a number past the wanted one.
      Failure f = SysFailure(EEXIST, "inotify_add_watch");
      f.path = path;
      f.detail = "got watch descriptor " + std::to_string(got) + ", not " + std::to_string(wd);
      return f;
    }
    if (inotify_rm_watch(fd, got) < 0) return SysFailure("inotify_rm_watch");
  }
}

// Reads away every queued event: the IN_IGNORED of the numbers given back.
static Status Drain(int fd) {
  alignas(struct inotify_event) char buf[4096];
  for (;;) {
    if (read(fd, buf, sizeof buf) >= 0) continue;
    if (errno == EAGAIN) return std::nullopt;
    return SysFailure("read");
  }
}

static bool ArgStrings(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<std::string>& out) {
  if (info.Length() > i && info[i].IsArray()) {
    auto array = info[i].As<Napi::Array>();
    for (uint32_t k = 0; k < array.Length() && array.Get(k).IsString(); k++) out.push_back(array.Get(k).As<Napi::String>().Utf8Value());
    if (out.size() == array.Length()) return true;
  }
  ThrowType(info.Env(), std::string(name) + " must be an array of strings");
  return false;
}

Napi::Value CreateInotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = 0;
  std::vector<int> wds, masks;
  std::vector<std::string> paths;
  if (!ArgInt(info, 0, "flags", flags) || !ArgIntArray(info, 1, "wds", wds) || !ArgIntArray(info, 2, "masks", masks) || !ArgStrings(info, 3, "paths", paths)) return env.Undefined();
  if (masks.size() != wds.size() || paths.size() != wds.size()) return ThrowType(env, "wds, masks and paths must be of one length");
  Fd fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd.ok()) return Throw(env, SysFailure("inotify_init1"));
  int last = 0;
  for (size_t i = 0; i < wds.size(); i++) {
    if (Status s = AddWatchAs(fd.get(), paths[i], static_cast<uint32_t>(masks[i]), wds[i], last)) return Throw(env, *s);
    last = wds[i];
  }
  if (Status s = Drain(fd.get())) return Throw(env, *s);
  if (!(flags & O_NONBLOCK) && fcntl(fd.get(), F_SETFL, 0) < 0) return Throw(env, SysFailure("fcntl"));
  return Napi::Number::New(env, fd.release());
}

Napi::Value QueuedBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = 0;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) < 0) return Throw(env, SysFailure("ioctl FIONREAD"));
  return Napi::Number::New(env, queued);
}

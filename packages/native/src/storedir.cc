// The store's paths (docs/store.md, "Another local user"): every one is reached relative to a
// directory descriptor of the store, never through a symbolic link: opens go through
// OpenBeneath, and the other calls are *at calls on a single name, which follow no link. New
// files are O_TMPFILE, linked into place once complete, so a killed `cr` leaves none half made.
#include "storedir.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "pool_job.h"

namespace {

Napi::Value ThrowAt(Napi::Env env, const char* syscall, const std::string& path) {
  Failure f = SysFailure(syscall);
  f.path = path;
  return Throw(env, f);
}

// Beneath the directory, through no symbolic link at any step (magic /proc links included): a
// link planted in a store is refused (ELOOP), never followed.
int OpenBeneath(int dir_fd, const std::string& path, uint64_t flags, uint64_t mode) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? mode : 0;  // openat2 refuses a mode it would not use
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  int fd;
  do fd = static_cast<int>(syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how));
  while (fd < 0 && errno == EINTR);
  return fd;
}

}  // namespace

Napi::Value OpenAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd, flags, mode;
  std::string path;
  if (!ArgInt(info, 0, "dirFd", dir_fd) || !ArgString(info, 1, "path", path) || !ArgInt(info, 2, "flags", flags) || !ArgInt(info, 3, "mode", mode)) return env.Undefined();
  // O_NONBLOCK for the open only: a FIFO in place of a store file must not block it. (O_PATH
  // takes neither flag.)
  bool path_only = flags & O_PATH;
  int fd = OpenBeneath(dir_fd, path, static_cast<uint32_t>(flags) | (path_only ? 0 : O_NOCTTY | O_NONBLOCK), static_cast<uint32_t>(mode));
  if (fd < 0) return ThrowAt(env, "openat2", path);
  if (!path_only && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
    Napi::Value thrown = ThrowAt(env, "fcntl(F_SETFL)", path);
    close(fd);
    return thrown;
  }
  return Napi::Number::New(env, fd);
}

Napi::Value OpenTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd, mode;
  if (!ArgInt(info, 0, "dirFd", dir_fd) || !ArgInt(info, 1, "mode", mode)) return env.Undefined();
  int fd = OpenBeneath(dir_fd, ".", O_TMPFILE | O_RDWR, static_cast<uint32_t>(mode));
  if (fd < 0) return ThrowAt(env, "open(O_TMPFILE)", ".");
  return Napi::Number::New(env, fd);
}

// Through /proc/self/fd with AT_SYMLINK_FOLLOW: needs no capability, unlike AT_EMPTY_PATH.
Napi::Value LinkTmpfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, dir_fd;
  std::string name;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "dirFd", dir_fd) || !ArgString(info, 2, "name", name)) return env.Undefined();
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  if (linkat(AT_FDCWD, self.c_str(), dir_fd, name.c_str(), AT_SYMLINK_FOLLOW) < 0) return ThrowAt(env, "linkat", name);
  return env.Undefined();
}

Napi::Value MkdirAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd, mode;
  std::string name;
  if (!ArgInt(info, 0, "dirFd", dir_fd) || !ArgString(info, 1, "name", name) || !ArgInt(info, 2, "mode", mode)) return env.Undefined();
  if (mkdirat(dir_fd, name.c_str(), static_cast<mode_t>(mode)) < 0) return ThrowAt(env, "mkdirat", name);
  return env.Undefined();
}

namespace {

// (fromDirFd, from, toDirFd, to) handed to `call`, a renameat or linkat.
Napi::Value FromTo(const Napi::CallbackInfo& info, const char* syscall, int (*call)(int, const char*, int, const char*)) {
  Napi::Env env = info.Env();
  int from_dir, to_dir;
  std::string from, to;
  if (!ArgInt(info, 0, "fromDirFd", from_dir) || !ArgString(info, 1, "from", from) || !ArgInt(info, 2, "toDirFd", to_dir) || !ArgString(info, 3, "to", to)) return env.Undefined();
  if (call(from_dir, from.c_str(), to_dir, to.c_str()) < 0) return ThrowAt(env, syscall, from + " -> " + to);
  return env.Undefined();
}

}  // namespace

Napi::Value RenameAt(const Napi::CallbackInfo& info) { return FromTo(info, "renameat", renameat); }

// Without AT_SYMLINK_FOLLOW: a symbolic link would be linked as itself, never its target.
Napi::Value LinkAt(const Napi::CallbackInfo& info) {
  return FromTo(info, "linkat", [](int from_dir, const char* from, int to_dir, const char* to) { return linkat(from_dir, from, to_dir, to, 0); });
}

Napi::Value UnlinkAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd;
  std::string name;
  if (!ArgInt(info, 0, "dirFd", dir_fd) || !ArgString(info, 1, "name", name)) return env.Undefined();
  bool directory = info.Length() > 2 && info[2].ToBoolean().Value();
  if (unlinkat(dir_fd, name.c_str(), directory ? AT_REMOVEDIR : 0) < 0) return ThrowAt(env, "unlinkat", name);
  return env.Undefined();
}

// Unlinking a large file frees its extents and cached pages: slow enough for the pool.
Napi::Value UnlinkAtAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd;
  std::string name;
  if (!ArgInt(info, 0, "dirFd", dir_fd) || !ArgString(info, 1, "name", name)) return env.Undefined();
  return StartPoolJob(
      env, Napi::Object::New(env),
      [dir_fd, name]() -> Status {
        if (unlinkat(dir_fd, name.c_str(), 0) == 0) return std::nullopt;
        Failure f = SysFailure("unlinkat");
        f.path = name;
        return f;
      },
      [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value ListDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir_fd;
  if (!ArgInt(info, 0, "dirFd", dir_fd)) return env.Undefined();
  int own = OpenBeneath(dir_fd, ".", O_RDONLY | O_DIRECTORY, 0);  // closedir closes it; dir_fd stays the caller's
  DIR* dir = own < 0 ? nullptr : fdopendir(own);
  if (!dir) {
    Napi::Value thrown = ThrowAt(env, "fdopendir", ".");
    if (own >= 0) close(own);
    return thrown;
  }
  Napi::Array names = Napi::Array::New(env);
  errno = 0;
  for (struct dirent* e; (e = readdir(dir)) != nullptr; errno = 0) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.Set(names.Length(), name);
  }
  int err = errno;
  closedir(dir);
  if (err != 0) return Throw(env, SysFailure(err, "readdir"));
  return names;
}

// File systems that are kernel interfaces, not storage: opening their files can block or act.
Napi::Value KernelFileSystem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const std::pair<long, const char*> kKernel[] = {
      {PROC_SUPER_MAGIC, "proc"},     {SYSFS_MAGIC, "sysfs"},       {CGROUP_SUPER_MAGIC, "cgroup"}, {CGROUP2_SUPER_MAGIC, "cgroup2"},
      {DEBUGFS_MAGIC, "debugfs"},     {TRACEFS_MAGIC, "tracefs"},   {SECURITYFS_MAGIC, "securityfs"}, {DEVPTS_SUPER_MAGIC, "devpts"},
      {BPF_FS_MAGIC, "bpf"},          {PSTOREFS_MAGIC, "pstore"},   {EFIVARFS_MAGIC, "efivarfs"},   {SELINUX_MAGIC, "selinuxfs"},
      {BINFMTFS_MAGIC, "binfmt_misc"}, {NSFS_MAGIC, "nsfs"},
  };
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  struct statfs st;
  if (fstatfs(fd, &st) < 0) return Throw(env, SysFailure("fstatfs"));
  for (const auto& [magic, name] : kKernel) {
    if (st.f_type == magic) return Napi::String::New(env, name);
  }
  return env.Null();
}

Napi::Object OpenFlagConstants(Napi::Env env) {
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("O_PATH", O_PATH);
  return flags;
}

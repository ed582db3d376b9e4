// userfaultfd, both halves. Checkpoint: write tracking in WP_ASYNC mode. The uffd must be
// created by the target itself (a uffd tracks the mm of the process that created it), so
// every step is an injected syscall. With WP_ASYNC the kernel resolves write faults on its own by clearing
// the write-protect bit, and PAGEMAP_SCAN (run from cr on /proc/PID/pagemap) reports the
// written pages and re-arms them. Restart: a uffd with MISSING registration over the fresh
// mappings, so that their pages are filled by UFFDIO_COPY (memory.cc) instead of faulted in.
#include "uffd.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

#include "args.h"
#include "descriptions.h"
#include "inject.h"
#include "kernel_abi.h"
#include "memory.h"
#include "pagemap.h"
#include "procfs.h"

namespace {

constexpr uint64_t kTrackingFeatures = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
constexpr long kHighestFd = 65535;  // keep the fd table small even with a huge RLIMIT_NOFILE

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// One injected syscall whose failure (a negative return) becomes a Failure naming it.
Status Call(int tid, long nr, const std::array<uint64_t, 6>& args, int64_t& result, const char* name) {
  if (Status s = InjectSyscallRaw(tid, nr, args, result)) return s;
  if (result < 0) {
    Failure f = SysFailure(static_cast<int>(-result), std::string(name) + " (injected)", tid);
    return f;
  }
  return std::nullopt;
}

std::string FdLink(int pid, long fd) {
  char target[256];
  std::string path = ProcPath(pid, "fd/") + std::to_string(fd);
  ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
  return n < 0 ? "" : std::string(target, static_cast<size_t>(n));
}

// Ours: a userfaultfd whose fdinfo shows the WP_ASYNC feature ("API:\t<api>:<features>:...").
bool IsTrackingUffd(int pid, long fd) {
  if (FdLink(pid, fd) != "anon_inode:[userfaultfd]") return false;
  std::string info;
  if (ReadTextFile(ProcPath(pid, "fdinfo/") + std::to_string(fd), info, pid)) return false;
  size_t at = info.find("API:\t");
  if (at == std::string::npos) return false;
  size_t colon = info.find(':', at + 5);
  uint64_t features = std::strtoull(info.c_str() + colon + 1, nullptr, 16);
  return (features & kTrackingFeatures) == kTrackingFeatures;
}

long SoftFdLimit(int pid) {
  std::string limits;
  if (ReadTextFile(ProcPath(pid, "limits"), limits, pid)) return 1024;
  size_t at = limits.find("Max open files");
  if (at == std::string::npos) return 1024;
  return std::strtol(limits.c_str() + at + 14, nullptr, 10);
}

// The highest free fd below the soft limit: out of the way of the program's own numbering.
long ChooseHighFd(int pid) {
  long fd = std::min(SoftFdLimit(pid), kHighestFd + 1) - 1;
  while (fd > 3 && !FdLink(pid, fd).empty()) fd--;
  return fd;
}

// The highest-numbered tracking uffd, if an earlier snapshot left one.
Status FindTrackingUffd(int pid, long& found) {
  std::string path = ProcPath(pid, "fd");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(path.c_str()), closedir);
  if (!dir) {
    Failure f = SysFailure("opendir", pid);
    f.path = path;
    return f;
  }
  found = -1;
  while (dirent* entry = readdir(dir.get())) {
    long fd = std::strtol(entry->d_name, nullptr, 10);
    if (entry->d_name[0] != '.' && fd > found && IsTrackingUffd(pid, fd)) found = fd;
  }
  return std::nullopt;
}

// userfaultfd + dup3 to a high fd + close + UFFDIO_API, all in the target.
Status CreateTrackingUffd(int tid, uint64_t scratch, long& fd) {
  int pid = ThreadGroupOf(tid);
  int64_t low = 0, r = 0;
  if (Status s = Call(tid, SYS_userfaultfd, {O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0}, low, "userfaultfd")) return s;
  long high = ChooseHighFd(pid);
  Status s = Call(tid, SYS_dup3, {static_cast<uint64_t>(low), static_cast<uint64_t>(high), O_CLOEXEC, 0, 0, 0}, r, "dup3");
  if (Status c = Call(tid, SYS_close, {static_cast<uint64_t>(low), 0, 0, 0, 0, 0}, r, "close"); c && !s) s = c;
  if (s) return s;
  uffdio_api api{UFFD_API, kTrackingFeatures, 0};
  if (Status w = WriteTargetMemory(pid, scratch, &api, sizeof api)) return w;
  if (Status a = Call(tid, SYS_ioctl, {static_cast<uint64_t>(high), UFFDIO_API, scratch, 0, 0, 0}, r, "ioctl(UFFDIO_API)")) {
    (void)Call(tid, SYS_close, {static_cast<uint64_t>(high), 0, 0, 0, 0, 0}, r, "close");  // leave nothing behind
    return a;
  }
  fd = high;
  return std::nullopt;
}

// The kernel refuses VMAs it cannot track (e.g. VM_PFNMAP, shared file mappings without
// support); those ranges are left out of `registered`, and the caller hashes them instead.
Status RegisterRange(int tid, long fd, uint64_t scratch, uint64_t start, uint64_t end, bool& registered) {
  int pid = ThreadGroupOf(tid);
  uffdio_register reg{{start, end - start}, UFFDIO_REGISTER_MODE_WP, 0};
  if (Status w = WriteTargetMemory(pid, scratch, &reg, sizeof reg)) return w;
  int64_t r = 0;
  if (Status s = InjectSyscallRaw(tid, SYS_ioctl, {static_cast<uint64_t>(fd), UFFDIO_REGISTER, scratch, 0, 0, 0}, r)) return s;
  registered = r == 0;
  return std::nullopt;
}

// userfaultfd + UFFDIO_API (no features) in the target, then MISSING registration of each
// range it accepts (an anonymous private mapping; not a file's).
Status CreateFillUffd(int tid, uint64_t scratch, const Ranges& ranges, long& fd, std::vector<uint64_t>& registered) {
  int pid = ThreadGroupOf(tid);
  int64_t r = 0;
  if (Status s = Call(tid, SYS_userfaultfd, {O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0}, fd, "userfaultfd")) return s;
  uffdio_api api{UFFD_API, 0, 0};
  if (Status w = WriteTargetMemory(pid, scratch, &api, sizeof api)) return w;
  if (Status a = Call(tid, SYS_ioctl, {static_cast<uint64_t>(fd), UFFDIO_API, scratch, 0, 0, 0}, r, "ioctl(UFFDIO_API)")) return a;
  for (auto [start, end] : ranges) {
    uffdio_register reg{{start, end - start}, UFFDIO_REGISTER_MODE_MISSING, 0};
    if (Status w = WriteTargetMemory(pid, scratch, &reg, sizeof reg)) return w;
    if (Status s = InjectSyscallRaw(tid, SYS_ioctl, {static_cast<uint64_t>(fd), UFFDIO_REGISTER, scratch, 0, 0, 0}, r)) return s;
    if (r == 0) registered.insert(registered.end(), {start, end});
  }
  return std::nullopt;
}

// { fd, registered }: a uffd's number and the (start, end) pairs the kernel accepted.
Napi::Object Registration(Napi::Env env, long fd, const std::vector<uint64_t>& registered) {
  auto out = Napi::TypedArrayOf<uint64_t>::New(env, registered.size(), napi_biguint64_array);
  for (size_t i = 0; i < registered.size(); i++) out[i] = registered[i];
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", static_cast<double>(fd));
  result.Set("registered", out);
  return result;
}

}  // namespace

// openFillUffd(tid, ranges): a uffd of the target's mm, MISSING-registered over the ranges it
// accepts, held by cr only (the target's own descriptor is closed again). Closing it (once the
// pages are in) unregisters everything.
Napi::Value OpenFillUffd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  Ranges ranges;
  if (!ArgInt(info, 0, "tid", tid) || !ArgPairs(info, 1, "ranges", ranges)) return env.Undefined();
  uint64_t scratch = 0;
  size_t scratchSize = 0;
  if (Status s = ScratchArea(tid, scratch, scratchSize)) return Throw(env, *s);
  long fd = -1;
  std::vector<uint64_t> registered;
  int taken = -1;
  Status s = CreateFillUffd(tid, scratch, ranges, fd, registered);
  if (!s) s = TakeFd(ThreadGroupOf(tid), fd, taken);
  int64_t r = 0;
  if (fd >= 0) {
    if (Status c = Call(tid, SYS_close, {static_cast<uint64_t>(fd), 0, 0, 0, 0, 0}, r, "close"); c && !s) s = c;
  }
  if (s) {
    if (taken >= 0) close(taken);
    return Throw(env, *s);
  }
  return Registration(env, taken, registered);
}

Napi::Value RegisterWriteTracking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  Ranges ranges;
  bool mmRegistered = false;
  if (!ArgInt(info, 0, "tid", tid) || !ArgPairs(info, 1, "ranges", ranges) || !ArgBool(info, 2, "mmRegistered", mmRegistered)) return env.Undefined();
  int pid = ThreadGroupOf(tid);
  uint64_t scratch = 0;
  size_t scratchSize = 0;
  long fd = -1;
  if (Status s = ScratchArea(tid, scratch, scratchSize)) return Throw(env, *s);
  if (Status s = FindTrackingUffd(pid, fd)) return Throw(env, *s);
  // A uffd acts on the mm that created it. With nothing registered in this mm, the one found came
  // with a fork from the parent's: registering through it would register the parent's mappings.
  if (fd >= 0 && !mmRegistered) {
    int64_t r = 0;
    if (Status s = Call(tid, SYS_close, {static_cast<uint64_t>(fd), 0, 0, 0, 0, 0}, r, "close")) return Throw(env, *s);
    fd = -1;
  }
  if (fd < 0) {
    if (Status s = CreateTrackingUffd(tid, scratch, fd)) return Throw(env, *s);
  }
  std::vector<uint64_t> registered;
  for (auto [start, end] : ranges) {
    bool ok = false;
    if (Status s = RegisterRange(tid, fd, scratch, start, end, ok)) return Throw(env, *s);
    if (ok) registered.insert(registered.end(), {start, end});
  }
  // Write-protected only once every injection is done: under a shadow-paging hypervisor (this
  // PVM guest) the target's next run after PTEs changed pays their resync, ~3 us a page.
  for (size_t i = 0; i < registered.size(); i += 2) {
    if (Status s = WriteProtectRange(pid, registered[i], registered[i + 1])) return Throw(env, *s);
  }
  return Registration(env, fd, registered);
}

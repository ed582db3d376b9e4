#include "shmem.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"

namespace {

// Whether a swap area is active (/proc/swaps lists one under its header). Without one no shmem
// page is out in swap, and being in the page cache (mincore) is holding data.
bool SwapActive() {
  std::ifstream swaps("/proc/swaps");
  if (!swaps.is_open()) return true;  // unknown: as if there were
  std::string line;
  for (int lines = 0; std::getline(swaps, line);) {
    if (++lines > 1) return true;
  }
  return false;
}

// [data, hole) byte offsets of [from, to), two lseeks an extent.
Status SeekExtents(int fd, off_t from, off_t to, std::vector<uint64_t>& pairs) {
  for (off_t at = from; at < to;) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // no data at or after `at`
    if (data < 0) return SysFailure("lseek SEEK_DATA");
    if (data >= to) break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return SysFailure("lseek SEEK_HOLE");
    pairs.push_back(data);
    pairs.push_back(std::min(hole, to));
    at = hole;
  }
  return std::nullopt;
}

// The same from one mincore of the range mapped here (never touched): one call however scattered
// the pages (every other page of 256 MiB: 32k extents, ~350 ms of lseeks on this VM). As
// SEEK_HOLE does, the last extent ends at the end of the file. False if it cannot be mapped.
bool ResidentExtents(int fd, off_t from, off_t to, std::vector<uint64_t>& pairs) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return false;
  to = std::min<off_t>(to, st.st_size);
  if (from >= to) return true;
  const off_t page = sysconf(_SC_PAGESIZE);
  const off_t start = from / page * page;
  const size_t length = static_cast<size_t>(to - start);
  void* view = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, start);
  if (view == MAP_FAILED) return false;
  std::vector<unsigned char> resident((length + page - 1) / page);
  bool ok = mincore(view, length, resident.data()) == 0;
  munmap(view, length);
  for (size_t i = 0; ok && i < resident.size(); i++) {
    if (!(resident[i] & 1)) continue;
    off_t data = std::max<off_t>(start + static_cast<off_t>(i) * page, from);
    off_t hole = std::min<off_t>(start + static_cast<off_t>(i + 1) * page, to);
    if (!pairs.empty() && pairs.back() == static_cast<uint64_t>(data)) pairs.back() = hole;
    else pairs.insert(pairs.end(), {static_cast<uint64_t>(data), static_cast<uint64_t>(hole)});
  }
  return ok;
}

}  // namespace

Napi::Value DataExtents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint64_t from, to;
  if (!ArgInt(info, 0, "fd", fd) || !ArgU64(info, 1, "from", from) || !ArgU64(info, 2, "to", to)) return env.Undefined();
  std::vector<uint64_t> pairs;
  bool resident = !SwapActive() && ResidentExtents(fd, static_cast<off_t>(from), static_cast<off_t>(to), pairs);
  if (!resident) {
    pairs.clear();
    if (Status s = SeekExtents(fd, static_cast<off_t>(from), static_cast<off_t>(to), pairs)) return Throw(env, *s);
  }
  auto out = Napi::TypedArrayOf<uint64_t>::New(env, pairs.size(), napi_biguint64_array);
  for (size_t i = 0; i < pairs.size(); i++) out[i] = pairs[i];
  return out;
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  int flags;
  if (!ArgString(info, 0, "name", name) || !ArgInt(info, 1, "flags", flags)) return env.Undefined();
  int fd = memfd_create(name.c_str(), static_cast<unsigned>(flags) | MFD_CLOEXEC);
  if (fd < 0) return Throw(env, SysFailure("memfd_create"));
  return Napi::Number::New(env, fd);
}

Napi::Value FileSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return Throw(env, SysFailure("fcntl(F_GET_SEALS)"));
  return Napi::Number::New(env, seals);
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, seals;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "seals", seals)) return env.Undefined();
  if (fcntl(fd, F_ADD_SEALS, seals) < 0) return Throw(env, SysFailure("fcntl(F_ADD_SEALS)"));
  return env.Undefined();
}

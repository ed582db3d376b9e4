#include "shmem.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "args.h"
#include "errors.h"

Napi::Value DataExtents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint64_t from, to;
  if (!ArgInt(info, 0, "fd", fd) || !ArgU64(info, 1, "from", from) || !ArgU64(info, 2, "to", to)) return env.Undefined();
  std::vector<uint64_t> pairs;
  for (off_t at = static_cast<off_t>(from); at < static_cast<off_t>(to);) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // no data at or after `at`
    if (data < 0) return Throw(env, SysFailure("lseek SEEK_DATA"));
    if (data >= static_cast<off_t>(to)) break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Throw(env, SysFailure("lseek SEEK_HOLE"));
    if (hole > static_cast<off_t>(to)) hole = static_cast<off_t>(to);
    pairs.push_back(data);
    pairs.push_back(hole);
    at = hole;
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

// flock (the kernel drops it when a killed `cr` dies), aligned buffers for O_DIRECT, and reads
// hashed on the pool. The store's paths themselves: storedir.cc.
#include "storefs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "errors.h"
#include "pool_job.h"
#include "xxhash64.h"

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

namespace {

constexpr size_t kHugePage = 2u << 20;

// Whole 2 MiB pages of anonymous memory marked MADV_HUGEPAGE: faulted in 2 MiB at a time. On
// this VM every page fault is a trip through the hypervisor (~14 us), so 4 KiB pages make a
// fresh buffer cost ~3.5 s a GiB to touch; huge ones ~40 times less.
uint8_t* MapHuge(size_t bytes) {
  size_t span = bytes + kHugePage;
  void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(mapped);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(mapped, aligned - start);
  size_t tail = start + span - (aligned + bytes);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);  // a hint: 4 KiB pages if refused
  return reinterpret_cast<uint8_t*>(aligned);
}

}  // namespace

// Node's own buffers come from malloc: aligned to 16 bytes, not to the block size O_DIRECT needs.
// From 1 MiB on, buffers are huge pages (MapHuge, at most twice the memory asked for): besides
// the faults, O_DIRECT I/O into them goes out in a few large segments instead of 4 KiB ones
// (a full snapshot of 1 GiB: 0.7-1.4 -> 1.3-1.6 GB/s here).
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "alignedBuffer(bytes)");
  size_t bytes = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  if (bytes == 0 || bytes % 4096 != 0) return ThrowType(env, "alignedBuffer: bytes must be a positive multiple of 4096");
  if (bytes >= kHugePage / 2) {
    size_t mapped = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    uint8_t* memory = MapHuge(mapped);
    if (!memory) return Throw(env, SysFailure("mmap"));
    return Napi::Buffer<uint8_t>::New(env, memory, bytes, [mapped](Napi::Env, uint8_t* p) { munmap(p, mapped); });
  }
  void* memory = nullptr;
  if (posix_memalign(&memory, 4096, bytes) != 0) return Throw(env, SysFailure(ENOMEM, "posix_memalign"));
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(memory), bytes, [](Napi::Env, uint8_t* p) { free(p); });
}

Status PreadFully(int fd, uint8_t* into, size_t length, off_t position) {
  for (size_t got = 0; got < length;) {
    ssize_t n = pread(fd, into + got, length - got, position + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysFailure("pread");
    if (n == 0) {
      Failure f = SysFailure(EIO, "pread");
      f.detail = "the file ends after " + std::to_string(position + static_cast<off_t>(got)) + " bytes";
      return f;
    }
    got += static_cast<size_t>(n);
  }
  return std::nullopt;
}

Napi::Value ReadHashed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber()) {
    return ThrowType(env, "readHashed(fd, into, length, position, tail)");
  }
  auto into = info[1].As<Napi::Buffer<uint8_t>>();
  int64_t length = info[2].As<Napi::Number>().Int64Value(), position = info[3].As<Napi::Number>().Int64Value(), tail = info[4].As<Napi::Number>().Int64Value();
  if (length < 0 || position < 0 || tail < 0 || tail > length || static_cast<size_t>(length) > into.Length()) {
    return ThrowType(env, "readHashed: 0 <= tail <= length <= into.length, position >= 0");
  }
  auto hash = std::make_shared<uint64_t>(0);
  uint8_t* data = into.Data();
  return StartPoolJob(
      env, into,
      [fd = info[0].As<Napi::Number>().Int32Value(), data, length = static_cast<size_t>(length), position = static_cast<off_t>(position), tail = static_cast<size_t>(tail), hash] {
        Status s = PreadFully(fd, data, length, position);
        if (!s) *hash = Xxh64(data + length - tail, tail);
        return s;
      },
      [hash](Napi::Env env) { return Napi::BigInt::New(env, *hash); });
}

// xxh64(data): XXH64 (seed 0) of a buffer, as the image format hashes chunk bodies.
Napi::Value Xxh64Of(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) return ThrowType(env, "xxh64(data)");
  auto data = info[0].As<Napi::Buffer<uint8_t>>();
  return Napi::BigInt::New(env, Xxh64(data.Data(), data.Length()));
}

// xxh64Pages(data, into, first): the XXH64 of each 4096-byte page of data, into[first + i].
Napi::Value Xxh64Pages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr size_t kPage = 4096;
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    return ThrowType(env, "xxh64Pages(data, into, first)");
  }
  auto data = info[0].As<Napi::Buffer<uint8_t>>();
  auto into = info[1].As<Napi::TypedArrayOf<uint64_t>>();
  size_t first = info[2].As<Napi::Number>().Uint32Value();
  size_t pages = data.Length() / kPage;
  if (data.Length() % kPage != 0 || first + pages > into.ElementLength()) return ThrowType(env, "xxh64Pages: whole pages, and room for their hashes");
  for (size_t i = 0; i < pages; i++) into[first + i] = Xxh64(data.Data() + i * kPage, kPage);
  return env.Undefined();
}

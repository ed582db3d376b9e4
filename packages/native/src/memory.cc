// Copying memory out of and into a target: process_vm_readv/writev, which copy between
// address spaces without stopping on each page, and /proc/PID/mem for what they refuse.
#include "memory.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "args.h"
#include "pool_job.h"
#include "procfs.h"

namespace {

constexpr size_t kIovMax = 1024;  // IOV_MAX: the kernel's limit per process_vm_readv call

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // (address, length)

// Adjacent ranges become one remote iovec: fewer iovecs, fewer calls.
Ranges MergeAdjacent(const Ranges& in) {
  Ranges out;
  for (auto [address, length] : in) {
    if (length == 0) continue;
    if (!out.empty() && out.back().first + out.back().second == address) {
      out.back().second += length;
    } else {
      out.emplace_back(address, length);
    }
  }
  return out;
}

// The address of byte `done` of a batch: where the partial read stopped.
uint64_t AddressAt(const iovec* remote, size_t count, size_t done) {
  for (size_t i = 0; i < count; i++) {
    if (done < remote[i].iov_len) return reinterpret_cast<uint64_t>(remote[i].iov_base) + done;
    done -= remote[i].iov_len;
  }
  return 0;
}

Status ProcMemIo(int pid, uint64_t address, void* data, size_t size, bool write);

// [address, address + size) of process `pid` through its open /proc/PID/mem, `mem`; a page out
// of reach fails with its address (EFAULT where the kernel returns nothing, else its errno).
Status MemIo(int mem, int pid, uint64_t address, void* data, size_t size, bool write) {
  auto* p = static_cast<uint8_t*>(data);
  const char* call = write ? "pwrite(/proc/PID/mem)" : "pread(/proc/PID/mem)";
  for (size_t done = 0; done < size;) {
    off_t at = static_cast<off_t>(address + done);
    ssize_t n = write ? pwrite(mem, p + done, size - done, at) : pread(mem, p + done, size - done, at);
    if (n <= 0) {
      Failure f = n < 0 ? SysFailure(call, pid) : SysFailure(EFAULT, call, pid);
      f.address = address + done;
      return f;
    }
    done += static_cast<size_t>(n);
  }
  return std::nullopt;
}

// One process_vm_readv/writev for up to kIovMax remote iovecs and one contiguous local area. It
// stops at a page the owner could not read or write itself (PROT_NONE, write- or exec-only to
// read; a read-only private mapping to write): the rest of that iovec goes through
// /proc/PID/mem, which reaches such pages the way a debugger does, and the copy goes on after
// it. What neither can reach (a guard page) fails with its address.
Status CopyBatch(int pid, const iovec* remote, size_t count, uint8_t* local, size_t total, bool write) {
  const char* call = write ? "process_vm_writev" : "process_vm_readv";
  while (count > 0) {
    iovec area{local, total};
    ssize_t n = write ? process_vm_writev(pid, &area, 1, remote, count, 0) : process_vm_readv(pid, &area, 1, remote, count, 0);
    if (n == static_cast<ssize_t>(total)) return std::nullopt;
    if (n < 0 && errno != EFAULT) {
      Failure f = SysFailure(call, pid);
      f.address = AddressAt(remote, count, 0);
      return f;
    }
    size_t done = n < 0 ? 0 : static_cast<size_t>(n);
    while (done >= remote->iov_len) {  // whole iovecs copied before the stop
      done -= remote->iov_len;
      local += remote->iov_len;
      total -= remote->iov_len;
      remote++;
      count--;
    }
    uint64_t base = reinterpret_cast<uint64_t>(remote->iov_base);
    if (Status s = ProcMemIo(pid, base + done, local + done, remote->iov_len - done, write)) {
      Failure f = SysFailure(EFAULT, call, pid);  // out of reach either way: name the page
      f.address = s->address;
      return f;
    }
    local += remote->iov_len;
    total -= remote->iov_len;
    remote++;
    count--;
  }
  return std::nullopt;
}

Status ReadRanges(int pid, const Ranges& ranges, uint8_t* into) {
  std::vector<iovec> remote;
  size_t total = 0;
  for (size_t i = 0; i < ranges.size(); i++) {
    remote.push_back({reinterpret_cast<void*>(ranges[i].first), ranges[i].second});
    total += ranges[i].second;
    if (remote.size() == kIovMax || i + 1 == ranges.size()) {
      if (Status s = CopyBatch(pid, remote.data(), remote.size(), into, total, false)) return s;
      into += total;
      total = 0;
      remote.clear();
    }
  }
  return std::nullopt;
}

// Each range by pread of /proc/PID/mem, which takes every page by reference. process_vm_readv
// pins them instead, and a read pin of an anonymous page shared copy-on-write (a frozen copy's
// page, which its process also maps) makes the kernel unshare it first: copy it into a new
// page of the copy (since Linux 5.19). Reading 1 GiB of a forked process that way cost 4.5-10
// us a page here, against 0.9 through /proc/PID/mem. A page out of reach (EIO) fails with EFAULT.
Status ReadRangesUnpinned(int pid, const Ranges& ranges, uint8_t* into) {
  Fd mem;
  if (Status s = OpenProc(pid, "mem", O_RDONLY, mem)) return s;
  for (auto [address, length] : ranges) {
    if (Status s = MemIo(mem.get(), pid, address, into, length, false)) {
      if (s->err == EIO) s->err = EFAULT;
      return s;
    }
    into += length;
  }
  return std::nullopt;
}

using RangeReader = Status (*)(int pid, const Ranges& ranges, uint8_t* into);

// Large copies split into two halves read by two threads: a read is bound by one core's
// page-table walking and memcpy, and the target is frozen while it runs.
constexpr size_t kParallelBytes = 2u << 20;

Status ReadRangesParallel(int pid, const Ranges& input, uint8_t* into, size_t total, RangeReader read) {
  if (total < kParallelBytes) return read(pid, input, into);
  Ranges ranges = input;
  if (ranges.size() == 1) {  // one large range: cut it in two, on a page boundary
    uint64_t half = (ranges[0].second / 2) & ~uint64_t{4095};
    ranges = {{ranges[0].first, half}, {ranges[0].first + half, ranges[0].second - half}};
  }
  size_t split = 0, firstBytes = 0;
  while (split + 1 < ranges.size() && firstBytes + ranges[split].second <= total / 2) firstBytes += ranges[split++].second;
  if (split == 0) firstBytes += ranges[split++].second;
  Ranges first(ranges.begin(), ranges.begin() + split), second(ranges.begin() + split, ranges.end());
  Status secondStatus;
  std::thread helper([&] { secondStatus = read(pid, second, into + firstBytes); });
  Status firstStatus = read(pid, first, into);
  helper.join();
  return firstStatus ? firstStatus : secondStatus;
}

Status ProcMemIo(int pid, uint64_t address, void* data, size_t size, bool write) {
  Fd mem;
  if (Status s = OpenProc(pid, "mem", write ? O_RDWR : O_RDONLY, mem)) return s;
  return MemIo(mem.get(), pid, address, data, size, write);
}

Status WriteRanges(int pid, const Ranges& merged, const uint8_t* from) {
  for (size_t i = 0; i < merged.size(); i += kIovMax) {
    std::vector<iovec> remote;
    size_t bytes = 0;
    for (size_t k = i; k < merged.size() && k < i + kIovMax; k++) {
      remote.push_back({reinterpret_cast<void*>(merged[k].first), merged[k].second});
      bytes += merged[k].second;
    }
    if (Status s = CopyBatch(pid, remote.data(), remote.size(), const_cast<uint8_t*>(from), bytes, true)) return s;
    from += bytes;
  }
  return std::nullopt;
}

// UFFDIO_COPY of one range inside a registered mapping: the kernel allocates each page and
// copies into it, where a fault would zero it first and process_vm_writev then copy over it.
// A page already there (EEXIST) is written over by process_vm_writev.
Status UffdCopy(int pid, int uffd, uint64_t address, uint64_t length, const uint8_t* from) {
  constexpr uint64_t kPage = 4096;
  for (uint64_t placed = 0; placed < length;) {
    uffdio_copy copy{address + placed, reinterpret_cast<uint64_t>(from + placed), length - placed, 0, 0};
    if (ioctl(uffd, UFFDIO_COPY, &copy) == 0) break;
    if (copy.copy > 0) placed += static_cast<uint64_t>(copy.copy);
    if (errno == EAGAIN) continue;
    if (errno == EEXIST) {
      if (Status s = WriteRanges(pid, {{address + placed, kPage}}, from + placed)) return s;
      placed += kPage;
      continue;
    }
    Failure f = SysFailure("ioctl(UFFDIO_COPY)", pid);
    f.address = address + placed;
    return f;
  }
  return std::nullopt;
}

// Each range cut where `registered` (sorted) starts and ends: the parts inside a registered
// mapping go by UFFDIO_COPY (a missing page there cannot be faulted in by process_vm_writev),
// the rest by process_vm_writev.
Status FillRanges(int pid, int uffd, const Ranges& registered, const Ranges& merged, const uint8_t* from) {
  if (uffd < 0) return WriteRanges(pid, merged, from);
  auto reg = registered.begin();
  for (auto [address, length] : merged) {
    for (uint64_t at = address, end = address + length; at < end;) {
      while (reg != registered.end() && reg->second <= at) ++reg;
      bool inside = reg != registered.end() && reg->first <= at;
      uint64_t stop = reg == registered.end() ? end : std::min(end, inside ? reg->second : reg->first);
      const uint8_t* part = from + (at - address);
      if (Status s = inside ? UffdCopy(pid, uffd, at, stop - at, part) : WriteRanges(pid, {{at, stop - at}}, part)) return s;
      at = stop;
    }
    from += length;
  }
  return std::nullopt;
}

// The (pid, ranges, buffer) arguments of the ranged copies, checked, with the ranges merged.
struct RangedCopy {
  int pid = 0;
  Ranges merged;
  size_t total = 0;
  Napi::Buffer<uint8_t> buffer;
};

bool ArgRangedCopy(const Napi::CallbackInfo& info, const char* bufferName, RangedCopy& copy) {
  Ranges ranges;
  if (!ArgInt(info, 0, "pid", copy.pid) || !ArgPairs(info, 1, "ranges", ranges) || !ArgBuffer(info, 2, bufferName, copy.buffer)) return false;
  copy.merged = MergeAdjacent(ranges);
  for (auto& r : copy.merged) copy.total += r.second;
  return true;
}

// The (pid, ranges, into, unpinned) arguments of the reads, `into` large enough; `read` the
// reader `unpinned` asks for.
bool ArgRangedRead(const Napi::CallbackInfo& info, RangedCopy& copy, RangeReader& read) {
  bool unpinned = false;
  if (!ArgRangedCopy(info, "into", copy) || !ArgBool(info, 3, "unpinned", unpinned)) return false;
  read = unpinned ? ReadRangesUnpinned : ReadRanges;
  if (copy.total <= copy.buffer.Length()) return true;
  ThrowType(info.Env(), "into is too small for the ranges");
  return false;
}

}  // namespace

Status ReadPinnedRanges(int pid, const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint8_t* into) {
  Ranges merged = MergeAdjacent(ranges);
  size_t total = 0;
  for (auto& r : merged) total += r.second;
  return ReadRangesParallel(pid, merged, into, total, ReadRanges);
}

// process_vm_writev refuses pages without write permission (code, the trampoline's code
// page, read-only data); /proc/PID/mem writes them the way a debugger does.
Status WriteTargetMemory(int pid, uint64_t address, const void* data, size_t size) {
  iovec local{const_cast<void*>(data), size};
  iovec remote{reinterpret_cast<void*>(address), size};
  ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n == static_cast<ssize_t>(size)) return std::nullopt;
  if (n < 0 && errno != EFAULT) return SysFailure("process_vm_writev", pid);
  size_t done = n < 0 ? 0 : static_cast<size_t>(n);
  return ProcMemIo(pid, address + done, static_cast<uint8_t*>(const_cast<void*>(data)) + done, size - done, true);
}

Status ReadTargetMemory(int pid, uint64_t address, void* data, size_t size) {
  return ProcMemIo(pid, address, data, size, false);
}

// readMemory(pid, ranges, into, unpinned): ranges are (address, length) pairs, copied back to
// back into `into`; unpinned: through /proc/PID/mem (ReadRangesUnpinned).
Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RangedCopy copy;
  RangeReader read = nullptr;
  if (!ArgRangedRead(info, copy, read)) return env.Undefined();
  if (Status s = ReadRangesParallel(copy.pid, copy.merged, copy.buffer.Data(), copy.total, read)) return Throw(env, *s);
  return Napi::Number::New(env, static_cast<double>(copy.total));
}

// writeMemoryRanges(pid, ranges, data, uffd, registered, source, copies): the inverse of
// readMemory, on the pool, in batches of IOV_MAX remote iovecs per process_vm_writev (the pages
// must be writable); with a uffd (>= 0, from openFillUffd), by UFFDIO_COPY inside `registered`.
// First, on the pool too, each (sourceOffset, dataOffset, length) of `copies` is copied from
// `source` into `data`: a restart gathers scattered pages off its main thread.
Napi::Value WriteMemoryRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RangedCopy copy;
  int uffd = -1;
  Ranges registered;
  Napi::Buffer<uint8_t> source;
  std::vector<std::array<uint64_t, 3>> copies;
  if (!ArgRangedCopy(info, "data", copy) || !ArgInt(info, 3, "uffd", uffd) || !ArgPairs(info, 4, "registered", registered) || !ArgBuffer(info, 5, "source", source) ||
      !ArgTriples(info, 6, "copies", copies)) {
    return env.Undefined();
  }
  if (copy.total > copy.buffer.Length()) return ThrowType(env, "data is shorter than the ranges");
  for (auto [from, to, length] : copies) {
    if (from + length > source.Length() || to + length > copy.buffer.Length()) return ThrowType(env, "a copy outside source or data");
  }
  std::sort(registered.begin(), registered.end());
  uint8_t* data = copy.buffer.Data();
  const uint8_t* gathered = source.Data();
  Napi::Array keep = Napi::Array::New(env, 2);
  keep.Set(0u, copy.buffer);
  keep.Set(1u, source);
  return StartPoolJob(
      env, keep,
      [pid = copy.pid, uffd, registered = std::move(registered), merged = std::move(copy.merged), data, gathered, copies = std::move(copies)] {
        for (auto [from, to, length] : copies) memmove(data + to, gathered + from, length);
        return FillRanges(pid, uffd, registered, merged, data);
      },
      [total = static_cast<double>(copy.total)](Napi::Env env) { return Napi::Number::New(env, total); });
}

// readMemoryRanges(pid, ranges, into, unpinned): readMemory on the pool, so that the caller's
// thread and the other core go on meanwhile; resolves with the bytes read.
Napi::Value ReadMemoryRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RangedCopy copy;
  RangeReader read = nullptr;
  if (!ArgRangedRead(info, copy, read)) return env.Undefined();
  Napi::Array keep = Napi::Array::New(env, 1);
  keep.Set(0u, copy.buffer);
  return StartPoolJob(
      env, keep, [pid = copy.pid, merged = std::move(copy.merged), into = copy.buffer.Data(), read] { return read(pid, merged, into); },
      [total = static_cast<double>(copy.total)](Napi::Env env) { return Napi::Number::New(env, total); });
}

Napi::Value WriteMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  uint64_t address = 0;
  Napi::Buffer<uint8_t> data;
  if (!ArgInt(info, 0, "pid", pid) || !ArgU64(info, 1, "address", address) || !ArgBuffer(info, 2, "data", data)) return env.Undefined();
  if (Status s = WriteTargetMemory(pid, address, data.Data(), data.Length())) return Throw(env, *s);
  return env.Undefined();
}

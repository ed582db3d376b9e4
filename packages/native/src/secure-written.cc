// The last step of an increment's freeze, in one call: scan each process's tracked memory for
// the pages written since the last scan, re-arming them (PAGEMAP_SCAN, WP_MATCHING), copy those
// that hold a page together with the other pages its plan names, and let the tree go. Nothing
// runs in JavaScript between the re-arm and the thaw, and nothing is allocated for the pages:
// they go into the caller's buffer, faulted in beforehand.
#include "secure-written.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <utility>
#include <vector>

#include "args.h"
#include "freeze.h"
#include "kernel_abi.h"
#include "memory.h"
#include "pagemap.h"

namespace {

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// One process of the frozen tree and what its scan found.
struct Member {
  int pid = 0;
  Ranges armed;    // [start, end): scanned and re-armed
  Ranges unarmed;  // [start, end): scanned only (hot pages left unarmed)
  Ranges extra;    // [start, end): pages its plan names besides the written ones, disjoint from both
  uint64_t copyAtMost = 0;  // pages: beyond this its pages are secured otherwise (a frozen copy)
  std::vector<page_region> armedRegions, unarmedRegions;
  bool lost = false;  // a mapping lost its registration (PM_SCAN_CHECK_WPASYNC): nothing is known
  Ranges toCopy;      // (address, length), in address order
  uint64_t bytes = 0;
};

// A written region holds a page when present or swapped; a guard's marker scans as swapped and holds none.
bool HoldsPage(uint64_t categories) { return (categories & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)) && !(categories & PAGE_IS_GUARD); }

// `ranges`, of `total` bytes, cut in two at half their pages (on a page boundary), in address order.
std::pair<Ranges, Ranges> Halves(const Ranges& ranges, uint64_t total) {
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t left = total / 2 / page * page;
  Ranges first, second;
  for (auto [start, end] : ranges) {
    uint64_t take = std::min(left, end - start);
    if (take > 0) first.emplace_back(start, start + take);
    if (start + take < end) second.emplace_back(start + take, end);
    left -= take;
  }
  return {first, second};
}

// Tracked memory from which the re-arm is split between two threads: below it, starting a
// thread costs more than the half of the walk it takes over.
constexpr uint64_t kParallelScanBytes = 64ull << 20;

// The scan of `ranges`, from `kParallelScanBytes` on in two halves on two threads: the re-arm
// is page-table work, one core's, and the target is frozen meanwhile (docs/measurements.md,
// "Secure"). The regions come back in address order all the same.
Status ScanSplit(int pid, const Ranges& ranges, const ScanOptions& o, std::vector<page_region>& out) {
  uint64_t bytes = 0;
  for (auto [start, end] : ranges) bytes += end - start;
  if (bytes < kParallelScanBytes) return Scan(pid, ranges, o, out);
  auto [first, second] = Halves(ranges, bytes);
  std::vector<page_region> later;
  Status secondStatus;
  std::thread helper([&] { secondStatus = Scan(pid, second, o, later); });
  Status s = Scan(pid, first, o, out);
  helper.join();
  out.insert(out.end(), later.begin(), later.end());
  return s ? s : secondStatus;
}

// Scans the member's tracked ranges for written pages; EPERM marks it lost, other failures return.
Status ScanMember(Member& m, uint64_t returnMask) {
  ScanOptions o;
  o.categories = o.categoryMask = PAGE_IS_WRITTEN;
  o.returnMask = returnMask;
  o.writeProtect = true;
  Status s = ScanSplit(m.pid, m.armed, o, m.armedRegions);
  o.writeProtect = false;
  if (!s) s = Scan(m.pid, m.unarmed, o, m.unarmedRegions);
  if (s && s->err == EPERM) {
    m.lost = true;
    return std::nullopt;
  }
  return s;
}

// The pages to copy, in address order: the written regions that hold one, and the extra ranges.
void PlanCopy(Member& m) {
  for (const auto* regions : {&m.armedRegions, &m.unarmedRegions}) {
    for (const page_region& r : *regions) {
      if (HoldsPage(r.categories)) m.toCopy.emplace_back(r.start, r.end - r.start);
    }
  }
  for (auto [start, end] : m.extra) m.toCopy.emplace_back(start, end - start);
  std::sort(m.toCopy.begin(), m.toCopy.end());
  for (auto [address, length] : m.toCopy) m.bytes += length;
}

bool ReadMember(Napi::Env env, Napi::Value value, Member& m) {
  if (!value.IsObject()) {
    ThrowType(env, "each member must be an object");
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  const std::pair<const char*, Ranges*> lists[] = {{"armed", &m.armed}, {"unarmed", &m.unarmed}, {"extra", &m.extra}};
  for (auto [key, out] : lists) {
    if (!PairsOf(env, o.Get(key), std::string("member.") + key, *out)) return false;
  }
  if (!o.Get("pid").IsNumber() || !o.Get("copyAtMost").IsNumber()) {
    ThrowType(env, "member.pid and member.copyAtMost must be numbers");
    return false;
  }
  m.pid = o.Get("pid").As<Napi::Number>().Int32Value();
  m.copyAtMost = static_cast<uint64_t>(std::max<int64_t>(0, o.Get("copyAtMost").As<Napi::Number>().Int64Value()));
  return true;
}

// Whether every member's pages are to be copied now, and fit `room` bytes together.
bool AllCopied(const std::vector<Member>& members, size_t room) {
  uint64_t total = 0;
  for (const Member& m : members) {
    if (m.lost || m.bytes / static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) > m.copyAtMost) return false;
    total += m.bytes;
  }
  return total <= room;
}

Napi::Value Result(Napi::Env env, const std::vector<Member>& members, bool copied) {
  Napi::Array scans = Napi::Array::New(env, members.size());
  Napi::Array bytes = Napi::Array::New(env, members.size());
  for (uint32_t i = 0; i < members.size(); i++) {
    bytes.Set(i, Napi::Number::New(env, static_cast<double>(members[i].bytes)));
    if (members[i].lost) {
      scans.Set(i, env.Null());
      continue;
    }
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, RegionTriples(env, members[i].armedRegions));
    pair.Set(1u, RegionTriples(env, members[i].unarmedRegions));
    scans.Set(i, pair);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("scans", scans);
  out.Set("copied", Napi::Boolean::New(env, copied));
  out.Set("bytes", bytes);
  return out;
}

}  // namespace

Napi::Value SecureWritten(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Member> members;
  Napi::Buffer<uint8_t> into;
  std::vector<int> thaw;
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "members must be an array");
  Napi::Array list = info[0].As<Napi::Array>();
  members.resize(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    if (!ReadMember(env, list.Get(i), members[i])) return env.Undefined();
  }
  int mask = 0;
  if (!ArgInt(info, 1, "returnMask", mask) || !ArgBuffer(info, 2, "into", into) || !ArgIntArray(info, 3, "thaw", thaw)) return env.Undefined();
  for (Member& m : members) {
    if (Status s = ScanMember(m, static_cast<uint32_t>(mask))) return Throw(env, *s);
    PlanCopy(m);
  }
  if (!AllCopied(members, into.Length())) return Result(env, members, false);
  uint8_t* at = into.Data();
  for (const Member& m : members) {
    if (Status s = ReadPinnedRanges(m.pid, m.toCopy, at)) return Throw(env, *s);
    at += m.bytes;
  }
  if (Status s = ThawThreads(thaw)) return Throw(env, *s);
  return Result(env, members, true);
}

// /proc/PID/pagemap: the per-page table (one u64 per page) and the PAGEMAP_SCAN ioctl,
// which walks page tables in the kernel and returns runs of pages by category, optionally
// write-protecting the written ones again in the same walk.
#include "pagemap.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "args.h"
#include "kernel_abi.h"
#include "pool_job.h"
#include "procfs.h"
#include "storefs.h"

namespace {

constexpr size_t kPagemapChunk = 1 << 20;  // entries per pread: 8 MiB, 4 GiB of address space
constexpr size_t kRegionsPerCall = 4096;

uint64_t PageSize() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }

// PreadFully of /proc/PID/pagemap, its failures naming the process and the file.
Status PreadPagemap(int fd, void* data, size_t size, off_t offset, int pid) {
  Status s = PreadFully(fd, static_cast<uint8_t*>(data), size, offset);
  if (s) {
    s->syscall = "pread(/proc/PID/pagemap)";
    s->pid = pid;
    s->path = ProcPath(pid, "pagemap");
  }
  return s;
}

// The kernel matches a page when ((page ^ inverted) & mask) == mask: invert the bits that
// must be clear, so callers simply say which values the masked bits must have.
pm_scan_arg ScanArg(uint64_t start, uint64_t end, const ScanOptions& o) {
  pm_scan_arg arg{};
  arg.size = sizeof arg;
  arg.flags = o.writeProtect ? (PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC) : 0;
  arg.start = start;
  arg.end = end;
  arg.max_pages = o.maxPages;
  arg.category_mask = o.categoryMask;
  arg.category_inverted = o.categoryMask & ~o.categories;
  arg.category_anyof_mask = o.categoryAnyof;
  arg.return_mask = o.returnMask;
  return arg;
}

uint64_t PagesIn(const page_region* regions, long n) {
  uint64_t pages = 0;
  for (long i = 0; i < n; i++) pages += (regions[i].end - regions[i].start) / PageSize();
  return pages;
}

// Where the next call resumes: past walk_end and past every region returned. The kernel's
// walk_end can lag behind what it returned: in 6.18 it stays where the kernel's own 512-entry
// buffer first filled, though the walk went on to `end`; resuming there reported those
// regions twice (xz's 94 MiB buffer with uffd-wp markers: a snapshot's page plan overlapped).
uint64_t ResumeAt(const pm_scan_arg& arg, const page_region* regions, long n) {
  return n > 0 ? std::max<uint64_t>(arg.walk_end, regions[n - 1].end) : arg.walk_end;
}

}  // namespace

// Each range's walk is resumed until it reaches its end: the vector can fill up before that.
Status Scan(int pid, const std::vector<std::pair<uint64_t, uint64_t>>& ranges, const ScanOptions& o, std::vector<page_region>& out) {
  Fd pagemap;
  if (Status s = OpenProc(pid, "pagemap", O_RDONLY, pagemap)) return s;
  std::vector<page_region> regions(kRegionsPerCall);
  ScanOptions left = o;
  for (const auto& [start, end] : ranges) {
    for (uint64_t at = start; at < end;) {
      pm_scan_arg arg = ScanArg(at, end, left);
      arg.vec = reinterpret_cast<uint64_t>(regions.data());
      arg.vec_len = regions.size();
      long n = ioctl(pagemap.get(), PAGEMAP_SCAN, &arg);
      if (n < 0) {
        Failure f = SysFailure("ioctl(PAGEMAP_SCAN)", pid);
        f.address = at;
        return f;
      }
      out.insert(out.end(), regions.begin(), regions.begin() + n);
      if (o.maxPages && (left.maxPages -= PagesIn(regions.data(), n)) == 0) return std::nullopt;
      uint64_t next = ResumeAt(arg, regions.data(), n);
      if (next <= at) break;  // no progress: never loop forever
      at = next;
    }
  }
  return std::nullopt;
}

namespace {

bool ReadNumberOption(Napi::Object o, const char* key, uint64_t& out, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return true;
  if (!v.IsNumber()) {
    ThrowType(o.Env(), std::string("opts.") + key + " must be a number");
    return false;
  }
  out = static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  return true;
}

bool ReadScanOptions(const Napi::CallbackInfo& info, size_t i, ScanOptions& o) {
  if (info.Length() <= i || !info[i].IsObject()) {
    ThrowType(info.Env(), "opts must be an object");
    return false;
  }
  Napi::Object obj = info[i].As<Napi::Object>();
  o.writeProtect = obj.Get("writeProtect").ToBoolean().Value();
  o.categoryMask = ~0ull;
  bool ok = ReadNumberOption(obj, "categories", o.categories, true) && ReadNumberOption(obj, "returnMask", o.returnMask, true) &&
            ReadNumberOption(obj, "categoryMask", o.categoryMask, false) && ReadNumberOption(obj, "categoryAnyof", o.categoryAnyof, false) &&
            ReadNumberOption(obj, "maxPages", o.maxPages, false);
  if (ok && o.categoryMask == ~0ull) o.categoryMask = o.categories;  // default: require exactly these bits set
  return ok;
}

bool ReadRangeArgs(const Napi::CallbackInfo& info, int& pid, uint64_t& start, uint64_t& end) {
  if (!ArgInt(info, 0, "pid", pid) || !ArgU64(info, 1, "start", start) || !ArgU64(info, 2, "end", end)) return false;
  if (start % PageSize() || end % PageSize() || end < start) {
    ThrowType(info.Env(), "start and end must be page-aligned with start <= end");
    return false;
  }
  return true;
}

// The (pid, start, end, opts) arguments of the scans.
struct ScanArgs {
  int pid = 0;
  uint64_t start = 0, end = 0;
  ScanOptions o;
};

bool ReadScanArgs(const Napi::CallbackInfo& info, ScanArgs& a) {
  return ReadRangeArgs(info, a.pid, a.start, a.end) && ReadScanOptions(info, 3, a.o);
}

}  // namespace

// (start, end, categories) triples, as pagemapScan returns them.
Napi::Value RegionTriples(Napi::Env env, const std::vector<page_region>& regions) {
  auto out = Napi::TypedArrayOf<uint64_t>::New(env, regions.size() * 3, napi_biguint64_array);
  for (size_t i = 0; i < regions.size(); i++) {
    out[3 * i] = regions[i].start;
    out[3 * i + 1] = regions[i].end;
    out[3 * i + 2] = regions[i].categories;
  }
  return out;
}

Status WriteProtectRange(int pid, uint64_t start, uint64_t end) {
  ScanOptions o;
  o.writeProtect = true;
  o.returnMask = PAGE_IS_WRITTEN;
  std::vector<page_region> ignored;
  return Scan(pid, {{start, end}}, o, ignored);
}

Napi::Value ReadPagemap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  uint64_t start = 0, end = 0;
  if (!ReadRangeArgs(info, pid, start, end)) return env.Undefined();
  Fd pagemap;
  if (Status s = OpenProc(pid, "pagemap", O_RDONLY, pagemap)) return Throw(env, *s);
  size_t pages = (end - start) / PageSize();
  auto out = Napi::TypedArrayOf<uint64_t>::New(env, pages, napi_biguint64_array);
  for (size_t done = 0; done < pages; done += kPagemapChunk) {
    size_t count = std::min(kPagemapChunk, pages - done);
    off_t offset = static_cast<off_t>((start / PageSize() + done) * 8);
    if (Status s = PreadPagemap(pagemap.get(), out.Data() + done, count * 8, offset, pid)) return Throw(env, *s);
  }
  return out;
}

Napi::Value PagemapScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScanArgs a;
  if (!ReadScanArgs(info, a)) return env.Undefined();
  std::vector<page_region> regions;
  if (Status s = Scan(a.pid, {{a.start, a.end}}, a.o, regions)) return Throw(env, *s);
  return RegionTriples(env, regions);
}

// The (pid, ranges, opts) arguments of the scans of several ranges.
struct ScanRangesArgs {
  int pid = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  ScanOptions o;
};

// False once it has thrown.
static bool ReadScanRangesArgs(const Napi::CallbackInfo& info, ScanRangesArgs& a) {
  if (!ArgInt(info, 0, "pid", a.pid) || !ArgPairs(info, 1, "ranges", a.ranges) || !ReadScanOptions(info, 2, a.o)) return false;
  for (const auto& [start, end] : a.ranges) {
    if (start % PageSize() || end % PageSize() || end < start) {
      ThrowType(info.Env(), "each range must be page-aligned with start <= end");
      return false;
    }
  }
  return true;
}

// pagemapScanRanges(pid, ranges, opts): pagemapScan of each (start, end) pair of `ranges` in
// turn, through one open of the pagemap: the triples of all, in the order of the ranges.
Napi::Value PagemapScanRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScanRangesArgs a;
  if (!ReadScanRangesArgs(info, a)) return env.Undefined();
  std::vector<page_region> regions;
  if (Status s = Scan(a.pid, a.ranges, a.o, regions)) return Throw(env, *s);
  return RegionTriples(env, regions);
}

// pagemapScanRangesAsync(pid, ranges, opts): pagemapScanRanges on the pool, while the caller goes on.
Napi::Value PagemapScanRangesAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScanRangesArgs a;
  if (!ReadScanRangesArgs(info, a)) return env.Undefined();
  auto regions = std::make_shared<std::vector<page_region>>();
  return StartPoolJob(
      env, Napi::Object::New(env), [a = std::move(a), regions] { return Scan(a.pid, a.ranges, a.o, *regions); }, [regions](Napi::Env e) { return RegionTriples(e, *regions); });
}

Napi::Object PageCategoryConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("PAGE_IS_WPALLOWED", PAGE_IS_WPALLOWED);
  c.Set("PAGE_IS_WRITTEN", PAGE_IS_WRITTEN);
  c.Set("PAGE_IS_FILE", PAGE_IS_FILE);
  c.Set("PAGE_IS_PRESENT", PAGE_IS_PRESENT);
  c.Set("PAGE_IS_SWAPPED", PAGE_IS_SWAPPED);
  c.Set("PAGE_IS_PFNZERO", PAGE_IS_PFNZERO);
  c.Set("PAGE_IS_HUGE", PAGE_IS_HUGE);
  c.Set("PAGE_IS_SOFT_DIRTY", PAGE_IS_SOFT_DIRTY);
  c.Set("PAGE_IS_GUARD", PAGE_IS_GUARD);
  return c;
}

// One-time probe of the kernel features cr chooses between. As in CRIU's kerndat, EINVAL,
// ENOTTY and ENOSYS mean "not supported"; any other errno is a real failure and is thrown.
#include "kerndat.h"

#include <cpuid.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "errors.h"
#include "kernel_abi.h"
#include "procfs.h"

namespace {

struct Feature {
  bool available = false;
  std::string reason;
};

struct KernelProbe {
  Feature softDirty;
  Feature writeProtectScan;
  Feature guardScan;
};

bool MeansUnsupported(int err) { return err == EINVAL || err == ENOTTY || err == ENOSYS || err == EOPNOTSUPP; }

// Maps n anonymous pages for the probes; unmapped on scope exit.
class ScratchMapping {
 public:
  explicit ScratchMapping(size_t size) : size_(size) {
    addr_ = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~ScratchMapping() {
    if (addr_ != MAP_FAILED) munmap(addr_, size_);
  }
  bool ok() const { return addr_ != MAP_FAILED; }
  uint8_t* get() const { return addr_; }
  uint64_t start() const { return reinterpret_cast<uint64_t>(addr_); }
  uint64_t end() const { return start() + size_; }

 private:
  uint8_t* addr_;
  size_t size_;
};

// "y", "n" (explicitly not set) or "" when the kernel does not expose its config.
std::string ConfigValue(const char* option) {
  gzFile gz = gzopen("/proc/config.gz", "rb");
  if (!gz) return "";
  std::string set = std::string(option) + "=";
  std::string unset = std::string("# ") + option + " is not set";
  std::string value;
  char line[512];
  while (value.empty() && gzgets(gz, line, sizeof line)) {
    std::string text(line);
    if (text.rfind(set, 0) == 0) value = text.substr(set.size(), 1);
    if (text.rfind(unset, 0) == 0) value.assign(1, 'n');  // (not = "n": GCC 12 -Wrestrict false positive)
  }
  gzclose(gz);
  return value;
}

// Without /proc/config.gz: clear soft-dirty bits, write a fresh page, and look for bit 55.
bool SoftDirtyBitSeen() {
  Fd clear(open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC));
  if (!clear.ok() || write(clear.get(), "4", 1) != 1) return false;
  ScratchMapping page(static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  Fd pagemap(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!page.ok() || !pagemap.ok()) return false;
  page.get()[0] = 1;
  uint64_t entry = 0;
  off_t offset = static_cast<off_t>(page.start() / sysconf(_SC_PAGESIZE) * 8);
  if (pread(pagemap.get(), &entry, sizeof entry, offset) != sizeof entry) return false;
  return (entry >> 55) & 1;
}

Feature ProbeSoftDirty() {
  std::string config = ConfigValue("CONFIG_MEM_SOFT_DIRTY");
  if (config == "y") return {true, "CONFIG_MEM_SOFT_DIRTY=y in /proc/config.gz"};
  if (config == "n") return {false, "CONFIG_MEM_SOFT_DIRTY is not set in this kernel"};
  if (SoftDirtyBitSeen()) return {true, "pagemap bit 55 is set after a write (soft-dirty works)"};
  return {false, "pagemap bit 55 stays clear after a write (kernel config not readable)"};
}

struct Unsupported {
  std::string reason;
};

// Each step either passes, says "unsupported" (with why) or is a real failure.
using Step = std::optional<std::variant<Unsupported, Failure>>;

Step Classify(const char* syscall, const char* unsupportedReason) {
  int err = errno;
  if (MeansUnsupported(err)) return Unsupported{std::string(unsupportedReason) + " (" + syscall + ": " + strerror(err) + ")"};
  return SysFailure(err, syscall);
}

Step ScanOwnPagemap(const ScratchMapping& area, size_t pageSize) {
  Fd pagemap(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pagemap.ok()) return SysFailure("open(/proc/self/pagemap)");
  pm_scan_arg arm{};
  arm.size = sizeof arm;
  arm.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
  arm.start = area.start();
  arm.end = area.end();
  arm.return_mask = PAGE_IS_WRITTEN;
  if (ioctl(pagemap.get(), PAGEMAP_SCAN, &arm) < 0) return Classify("ioctl(PAGEMAP_SCAN)", "PAGEMAP_SCAN is not supported");
  area.get()[pageSize] = 1;  // write the second page only
  page_region regions[4];
  pm_scan_arg scan = arm;
  scan.flags = 0;
  scan.vec = reinterpret_cast<uint64_t>(regions);
  scan.vec_len = 4;
  scan.category_mask = PAGE_IS_WRITTEN;
  long n = ioctl(pagemap.get(), PAGEMAP_SCAN, &scan);
  if (n < 0) return Classify("ioctl(PAGEMAP_SCAN)", "PAGEMAP_SCAN is not supported");
  if (n != 1 || regions[0].start != area.start() + pageSize || regions[0].end != area.start() + 2 * pageSize) {
    return Unsupported{"PAGEMAP_SCAN did not report exactly the page written after write-protection"};
  }
  return std::nullopt;
}

Step ProbeWriteProtectSteps() {
  size_t pageSize = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Fd uffd(static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY)));
  if (!uffd.ok()) return Classify("userfaultfd", "userfaultfd is not available");
  uffdio_api api{UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, 0};
  if (ioctl(uffd.get(), UFFDIO_API, &api) < 0) return Classify("ioctl(UFFDIO_API)", "UFFD_FEATURE_WP_ASYNC|WP_UNPOPULATED not supported (Linux 6.7+)");
  ScratchMapping area(4 * pageSize);
  if (!area.ok()) return SysFailure("mmap");
  uffdio_register reg{{area.start(), 4 * pageSize}, UFFDIO_REGISTER_MODE_WP, 0};
  if (ioctl(uffd.get(), UFFDIO_REGISTER, &reg) < 0) return Classify("ioctl(UFFDIO_REGISTER)", "userfaultfd write-protect mode is not supported");
  return ScanOwnPagemap(area, pageSize);
}

std::optional<Failure> ProbeWriteProtectScan(Feature& out) {
  Step step = ProbeWriteProtectSteps();
  if (!step) {
    out = {true, "userfaultfd WP_ASYNC + PAGEMAP_SCAN work"};
    return std::nullopt;
  }
  if (auto* failure = std::get_if<Failure>(&*step)) return *failure;
  out = {false, std::get<Unsupported>(*step).reason};
  return std::nullopt;
}

// PAGEMAP_SCAN reports guard regions (PAGE_IS_GUARD) from Linux 6.14; before, the category is
// refused with EINVAL.
Feature ProbeGuardScan() {
  ScratchMapping area(static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  Fd pagemap(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!area.ok() || !pagemap.ok()) return {false, "no scratch mapping or pagemap to probe PAGE_IS_GUARD"};
  pm_scan_arg scan{};
  scan.size = sizeof scan;
  scan.start = area.start();
  scan.end = area.end();
  scan.category_anyof_mask = PAGE_IS_GUARD;
  scan.return_mask = PAGE_IS_GUARD;
  if (ioctl(pagemap.get(), PAGEMAP_SCAN, &scan) < 0) return {false, std::string("PAGEMAP_SCAN does not know PAGE_IS_GUARD (Linux 6.14+): ") + strerror(errno)};
  return {true, "PAGEMAP_SCAN reports guard regions (PAGE_IS_GUARD)"};
}

Napi::Object FeatureObject(Napi::Env env, const Feature& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", f.available);
  o.Set("reason", f.reason);
  return o;
}

}  // namespace

size_t XStateSize() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx)) return 512;
  return ebx ? ebx : 512;
}

Napi::Value ProbeKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static std::optional<KernelProbe> cached;
  if (!cached) {
    KernelProbe probe;
    probe.softDirty = ProbeSoftDirty();
    if (auto failure = ProbeWriteProtectScan(probe.writeProtectScan)) return Throw(env, *failure);
    probe.guardScan = ProbeGuardScan();
    cached = probe;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pageSize", static_cast<double>(sysconf(_SC_PAGESIZE)));
  out.Set("softDirty", FeatureObject(env, cached->softDirty));
  out.Set("writeProtectScan", FeatureObject(env, cached->writeProtectScan));
  out.Set("guardScan", FeatureObject(env, cached->guardScan));
  out.Set("xstateSize", static_cast<double>(XStateSize()));
  return out;
}

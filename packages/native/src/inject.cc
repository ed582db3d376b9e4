// Syscall injection into a frozen thread (docs/design.md decision 5: never harm the target).
//
// Each injection: save the thread's registers and signal mask, write its resume state
// (syscall restart already applied) into the trampoline's save area, point rip at the
// trampoline's `syscall` with every signal blocked and orig_rax = -1 (no restart processing
// of our modified registers), run to the syscall-exit stop, and read rax. The thread then stays
// *parked* there, at the restore routine, until something else needs its own state: another
// injection into it only sets the registers again, and the original mask and registers are put
// back exactly (RestoreInjectedState) before its state is read or set, before another thread
// of its process takes the save area, and at the thaw, so the kernel's own restart logic runs
// on detach. If cr is killed at any instant the kernel detaches the thread; it then either still
// has its own registers, or finishes the injected syscall (or sits after it, parked) and the
// trampoline's restore routine returns it to where it was with its own mask.
//
// The one window left: the bootstrap mmap that creates the trampoline runs on a `syscall`
// instruction found in the vdso. If cr dies during that single syscall, the thread resumes
// in the vdso after it with the injection's registers and would most likely crash.
#include "inject.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "args.h"
#include "kernel_abi.h"
#include "memory.h"
#include "procfs.h"
#include "registers.h"
#include "trampoline.h"

namespace {

// The kernel's internal restart codes, as seen in rax at a stop inside a syscall.
constexpr long kErestartSys = 512, kErestartNoIntr = 513, kErestartNoHand = 514, kErestartRestartBlock = 516;
constexpr long kRedZone = 128;  // the x86-64 ABI lets leaf code use 128 bytes below rsp
constexpr int kSyscallStop = SIGTRAP | 0x80;  // PTRACE_O_TRACESYSGOOD

struct Saved {
  user_regs_struct regs;
  uint64_t mask;
  bool masked = false;  // every signal blocked: set by the injection, until restored
};

struct Trampoline {
  uint64_t base = 0;
  int saveAreaOwner = 0;  // tid whose resume state the save area holds
};

std::unordered_map<int, Saved> g_saved;            // by tid: injection in progress
std::unordered_map<int, Trampoline> g_trampolines;  // by tgid, while frozen
std::unordered_map<int, uint64_t> g_placements;     // by tgid: where a new trampoline must go
std::unordered_map<int, int> g_groups;              // by tid, while frozen: its thread group

uint64_t PageSize() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }

// Where the thread continues if it leaves the kernel now: a syscall interrupted with a
// restart code runs again (rip back over the 2-byte `syscall`), as the kernel would do.
user_regs_struct ResumeState(user_regs_struct r) {
  if (static_cast<long>(r.orig_rax) < 0) return r;
  switch (-static_cast<long>(r.rax)) {
    case kErestartSys:
    case kErestartNoIntr:
    case kErestartNoHand:
      r.rax = r.orig_rax;
      r.rip -= 2;
      break;
    case kErestartRestartBlock:
      r.rax = SYS_restart_syscall;
      r.rip -= 2;
      break;
  }
  return r;
}

user_regs_struct InjectionRegs(const user_regs_struct& original, uint64_t site, long nr, const std::array<uint64_t, 6>& a) {
  user_regs_struct r = original;
  r.rip = site;
  r.rax = static_cast<uint64_t>(nr);
  r.orig_rax = static_cast<uint64_t>(-1);
  r.rdi = a[0], r.rsi = a[1], r.rdx = a[2], r.r10 = a[3], r.r8 = a[4], r.r9 = a[5];
  r.rsp = (original.rsp - kRedZone) & ~15ull;  // a signal frame must not clobber the red zone
  return r;
}

Failure InjectionFailure(int err, int tid, const std::string& detail) {
  Failure f = SysFailure(err, "inject", tid);
  f.detail = detail;
  return f;
}

// Resumes with PTRACE_SYSCALL until the syscall-exit stop. A SIGSTOP (the only signal that
// gets through the full mask) is passed on: it becomes a group stop, re-entered on detach.
Status RunToSyscallExit(int tid) {
  int sig = 0;
  for (int syscallStops = 0; syscallStops < 2;) {
    if (ptrace(PTRACE_SYSCALL, tid, nullptr, sig) != 0) return SysFailure("ptrace(PTRACE_SYSCALL)", tid);
    sig = 0;
    int status = 0;
    if (waitpid(tid, &status, __WALL) < 0) return SysFailure("waitpid", tid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) return InjectionFailure(ESRCH, tid, "the thread exited during an injected syscall");
    if (WSTOPSIG(status) == kSyscallStop) {
      syscallStops++;
    } else if ((status >> 16) == 0 && WSTOPSIG(status) == SIGSTOP) {
      sig = SIGSTOP;
    } else if ((status >> 16) == 0) {
      return InjectionFailure(EFAULT, tid, "signal " + std::to_string(WSTOPSIG(status)) + " during an injected syscall");
    }
  }
  return std::nullopt;
}

Status SaveOriginal(int tid) {
  if (g_saved.count(tid)) return std::nullopt;  // an unfinished injection: keep the true original
  Saved saved{};
  if (Status s = GetRegsRaw(tid, saved.regs)) return s;
  if (Status s = GetSigmaskRaw(tid, saved.mask)) return s;
  g_saved[tid] = saved;
  return std::nullopt;
}

// nanosleep and clock_nanosleep reset the thread's restart_block on entry: injected into a
// thread stopped inside an interrupted sleep (-ERESTART_RESTARTBLOCK), they would make its
// restart_syscall return EINTR. Refuse those rather than harm the target.
Status CheckRestartBlock(int tid, long nr) {
  if (nr != SYS_nanosleep && nr != SYS_clock_nanosleep && nr != SYS_restart_syscall) return std::nullopt;
  if (Status s = SaveOriginal(tid)) return s;
  const user_regs_struct& r = g_saved[tid].regs;
  if (static_cast<long>(r.orig_rax) < 0 || -static_cast<long>(r.rax) != kErestartRestartBlock) return std::nullopt;
  return InjectionFailure(EBUSY, tid, "the thread is in an interrupted sleep whose restart this syscall would reset");
}

// Registers first, then the full mask: whichever instant cr dies at, the thread either has
// its own state or is on its way through the restore routine. `park` leaves it after the
// syscall, where the next instructions restore it (a trampoline site, not the vdso's).
Status InjectAt(int tid, uint64_t site, long nr, const std::array<uint64_t, 6>& args, int64_t& result, bool park) {
  if (Status s = CheckRestartBlock(tid, nr)) return s;
  if (Status s = SaveOriginal(tid)) return s;
  Saved& saved = g_saved[tid];
  if (Status s = SetRegsRaw(tid, InjectionRegs(saved.regs, site, nr, args))) return s;
  if (!saved.masked) {
    if (Status s = SetSigmaskRaw(tid, ~0ull)) return s;
    saved.masked = true;
  }
  if (Status s = RunToSyscallExit(tid)) return s;
  user_regs_struct after{};
  if (Status s = GetRegsRaw(tid, after)) return s;
  if (after.rip != site + 2) return InjectionFailure(EFAULT, tid, "injected syscall ended at an unexpected address");
  result = static_cast<int64_t>(after.rax);
  return park ? std::nullopt : RestoreInjectedState(tid);
}

Status FindVdsoSyscall(int pid, uint64_t& site) {
  std::vector<Vma> maps;
  if (Status s = ReadMaps(pid, maps)) return s;
  for (const Vma& vma : maps) {
    if (vma.name != "[vdso]") continue;
    std::vector<uint8_t> code(vma.end - vma.start);
    if (Status s = ReadTargetMemory(pid, vma.start, code.data(), code.size())) return s;
    for (size_t i = 0; i + 1 < code.size(); i++) {
      if (code[i] == 0x0f && code[i + 1] == 0x05) {
        site = vma.start + i;
        return std::nullopt;
      }
    }
  }
  return InjectionFailure(ENOENT, pid, "no syscall instruction found in the vdso");
}

// Recognised by shape (a private anonymous r-x page followed by an rw- page) and by the
// code page's exact contents; the name only shows where CONFIG_ANON_VMA_NAME is set.
bool IsTrampolineAt(int pid, const Vma& code, const Vma& data) {
  uint64_t page = PageSize();
  bool named = code.name.empty() || code.name == std::string("[anon:") + kTrampolineName + "]";
  if (!named || code.perms != "r-xp" || code.end - code.start != page) return false;
  if (data.start != code.end || data.perms != "rw-p" || data.end - data.start != page) return false;
  std::vector<uint8_t> bytes(page);
  if (ReadTargetMemory(pid, code.start, bytes.data(), page)) return false;
  return bytes == TrampolineCode(code.start, page);
}

Status FindTrampoline(int pid, uint64_t& base) {
  std::vector<Vma> maps;
  if (Status s = ReadMaps(pid, maps)) return s;
  base = 0;
  for (size_t i = 0; i + 1 < maps.size() && !base; i++) {
    if (IsTrampolineAt(pid, maps[i], maps[i + 1])) base = maps[i].start;
  }
  return std::nullopt;
}

long Check(int64_t result, int tid, const char* what, Status& status) {
  if (result < 0 && result > -4096) status = InjectionFailure(static_cast<int>(-result), tid, std::string(what) + " in the target failed");
  return static_cast<long>(result);
}

// Fills the code page (through /proc/PID/mem, it is not writable), then makes the data page
// writable and names the mapping, both through the trampoline itself.
Status FinishTrampoline(int pid, int tid, uint64_t base) {
  uint64_t page = PageSize();
  std::vector<uint8_t> code = TrampolineCode(base, page);
  if (Status s = WriteTargetMemory(pid, base, code.data(), code.size())) return s;
  g_trampolines[pid] = {base, 0};
  int64_t r = 0;
  Status status;
  if (Status s = InjectSyscallRaw(tid, SYS_mprotect, {base + page, page, PROT_READ | PROT_WRITE, 0, 0, 0}, r)) return s;
  if (Check(r, tid, "mprotect", status); status) return status;
  if (Status s = WriteTargetMemory(pid, base + page + kScratch, kTrampolineName, sizeof kTrampolineName)) return s;
  // Naming is cosmetic: kernels without CONFIG_ANON_VMA_NAME answer EINVAL, and the
  // trampoline is still recognised by its contents.
  return InjectSyscallRaw(tid, SYS_prctl, {PR_SET_VMA, PR_SET_VMA_ANON_NAME, base, 2 * page, base + page + kScratch, 0}, r);
}

Status CreateTrampoline(int pid, int tid, uint64_t& base) {
  uint64_t site = 0;
  if (Status s = FindVdsoSyscall(pid, site)) return s;
  int64_t r = 0;
  std::array<uint64_t, 6> args{0, 2 * PageSize(), PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0};
  // A restore stub's trampoline must stay clear of the image's mappings (PlaceTrampoline).
  if (auto placed = g_placements.find(pid); placed != g_placements.end()) {
    args[0] = placed->second;
    args[3] |= MAP_FIXED_NOREPLACE;
  }
  if (Status s = InjectAt(tid, site, SYS_mmap, args, r, false)) return s;
  Status status;
  if (Check(r, tid, "mmap of the trampoline", status); status) return status;
  base = static_cast<uint64_t>(r);
  if (Status s = FinishTrampoline(pid, tid, base)) {
    g_trampolines.erase(pid);
    (void)InjectAt(tid, site, SYS_munmap, {base, 2 * PageSize(), 0, 0, 0, 0}, r, false);  // best effort: do not leave half a trampoline
    return s;
  }
  return std::nullopt;
}

Status EnsureTrampoline(int pid, int tid, Trampoline*& out) {
  auto it = g_trampolines.find(pid);
  if (it == g_trampolines.end()) {
    uint64_t base = 0;
    if (Status s = FindTrampoline(pid, base)) return s;
    if (!base) {
      if (Status s = CreateTrampoline(pid, tid, base)) return s;
    }
    it = g_trampolines.insert_or_assign(pid, Trampoline{base, 0}).first;
  }
  out = &it->second;
  return std::nullopt;
}

Status WriteSaveArea(int pid, int tid, Trampoline& t) {
  if (t.saveAreaOwner == tid) return std::nullopt;
  // The owner, parked, would be restored from this thread's state if cr died: restored now.
  if (Status s = RestoreInjectedState(t.saveAreaOwner); s && s->err != ESRCH) return s;
  if (Status s = SaveOriginal(tid)) return s;
  const Saved& saved = g_saved[tid];
  std::vector<uint8_t> image = SaveAreaImage(ResumeState(saved.regs), saved.mask);
  if (Status s = WriteTargetMemory(pid, t.base + PageSize(), image.data(), image.size())) return s;
  t.saveAreaOwner = tid;
  return std::nullopt;
}

bool ReadArgs(const Napi::CallbackInfo& info, std::array<uint64_t, 6>& args) {
  if (info.Length() > 2 && info[2].IsArray()) {
    auto array = info[2].As<Napi::Array>();
    bool ok = array.Length() <= 6;
    for (uint32_t i = 0; ok && i < array.Length(); i++) {
      bool lossless = true;
      ok = array.Get(i).IsBigInt();
      if (ok) args[i] = array.Get(i).As<Napi::BigInt>().Uint64Value(&lossless);
    }
    if (ok) return true;
  }
  ThrowType(info.Env(), "args must be an array of at most 6 bigints");
  return false;
}

}  // namespace

int ThreadGroupOf(int tid) {
  if (auto known = g_groups.find(tid); known != g_groups.end()) return known->second;
  std::string tgid = StatusField(tid, "Tgid");
  if (tgid.empty()) return tid;
  return g_groups[tid] = std::atoi(tgid.c_str());
}

// The entry goes whatever happens: a thread that cannot take its state back is dead, and
// its tid may later name an unrelated thread.
Status RestoreInjectedState(int tid) {
  // Its state may change now: the save area no longer holds it.
  if (auto t = g_trampolines.find(ThreadGroupOf(tid)); t != g_trampolines.end() && t->second.saveAreaOwner == tid) t->second.saveAreaOwner = 0;
  auto node = g_saved.extract(tid);
  if (node.empty()) return std::nullopt;
  if (Status s = SetSigmaskRaw(tid, node.mapped().mask)) return s;
  return SetRegsRaw(tid, node.mapped().regs);
}

void ForgetThread(int tid) {
  g_saved.erase(tid);
  g_groups.erase(tid);
  g_trampolines.erase(tid);
  g_placements.erase(tid);
}

void PlaceTrampoline(int pid, uint64_t address) { g_placements[pid] = address; }

Status InjectSyscallRaw(int tid, long nr, const std::array<uint64_t, 6>& args, int64_t& result) {
  int pid = ThreadGroupOf(tid);
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(pid, tid, t)) return s;
  if (Status s = WriteSaveArea(pid, tid, *t)) return s;
  return InjectAt(tid, t->base, nr, args, result, true);
}

Status InjectClone(int tid, uint64_t flags, int64_t& result) {
  int pid = ThreadGroupOf(tid);
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(pid, tid, t)) return s;
  if (Status s = WriteSaveArea(pid, tid, *t)) return s;
  return InjectAt(tid, t->base + kForkSite, SYS_clone, {flags, 0, 0, 0, 0, 0}, result, true);
}

Status InjectCloneBy(int tid, int goBetween, uint64_t flags, int64_t& result) {
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(ThreadGroupOf(tid), tid, t)) return s;
  return InjectAt(goBetween, t->base + kSpawnSite, SYS_clone, {flags, 0, 0, 0, 0, 0}, result, false);
}

Status ScratchArea(int tid, uint64_t& address, size_t& size) {
  int pid = ThreadGroupOf(tid);
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(pid, tid, t)) return s;
  address = t->base + PageSize() + kScratch;
  size = PageSize() - kScratch;
  return std::nullopt;
}

Status SyscallSite(int tid, uint64_t& site) {
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(ThreadGroupOf(tid), tid, t)) return s;
  site = t->base;
  return std::nullopt;
}

Napi::Value InjectSyscall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0, nr = 0;
  std::array<uint64_t, 6> args{};
  if (!ArgInt(info, 0, "tid", tid) || !ArgInt(info, 1, "nr", nr) || !ReadArgs(info, args)) return env.Undefined();
  int64_t result = 0;
  if (Status s = InjectSyscallRaw(tid, nr, args, result)) return Throw(env, *s);
  return Napi::BigInt::New(env, result);
}

Napi::Value PlaceTrampolineAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  uint64_t address = 0;
  if (!ArgInt(info, 0, "pid", pid) || !ArgU64(info, 1, "address", address)) return env.Undefined();
  PlaceTrampoline(pid, address);
  return env.Undefined();
}

Napi::Value Scratch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  uint64_t address = 0;
  size_t size = 0;
  if (Status s = ScratchArea(tid, address, size)) return Throw(env, *s);
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", BigU64(env, address));
  out.Set("size", static_cast<double>(size));
  // The trampoline's two pages, so that cr can leave them out of what it saves.
  uint64_t base = address - kScratch - PageSize();
  Napi::Object trampoline = Napi::Object::New(env);
  trampoline.Set("start", BigU64(env, base));
  trampoline.Set("end", BigU64(env, base + 2 * PageSize()));
  out.Set("trampoline", trampoline);
  return out;
}

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
// Queries (syscalls that only read) run several in one go: the thread runs the trampoline's
// query loop over a table in its scratch page, then waits in ppoll, where cr stops it
// (PTRACE_INTERRUPT) once the table is done; orphaned, the wait times out and the thread goes
// on to the restore routine. A later freeze that finds a thread inside the trampoline takes the
// save area's state as its own (AdoptOrphanedStates).
//
// The one window left: the bootstrap mmap that creates the trampoline runs on a `syscall`
// instruction found in the vdso. If cr dies during that single syscall, the thread resumes
// in the vdso after it with the injection's registers and would most likely crash.
#include "inject.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

// Points the thread at `site` with syscall `nr` in rax. Registers first, then the full mask:
// whichever instant cr dies at, the thread either has its own state or is on its way through
// the restore routine.
Status EnterTrampoline(int tid, uint64_t site, long nr, const std::array<uint64_t, 6>& args) {
  if (Status s = SaveOriginal(tid)) return s;
  Saved& saved = g_saved[tid];
  if (Status s = SetRegsRaw(tid, InjectionRegs(saved.regs, site, nr, args))) return s;
  if (saved.masked) return std::nullopt;
  if (Status s = SetSigmaskRaw(tid, ~0ull)) return s;
  saved.masked = true;
  return std::nullopt;
}

// `park` leaves the thread after the syscall, where the next instructions restore it (a
// trampoline site, not the vdso's).
Status InjectAt(int tid, uint64_t site, long nr, const std::array<uint64_t, 6>& args, int64_t& result, bool park) {
  if (Status s = CheckRestartBlock(tid, nr)) return s;
  if (Status s = EnterTrampoline(tid, site, nr, args)) return s;
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

// The page at `page` is a trampoline's code page: its magic first, then all of it.
bool IsTrampolineCode(int pid, uint64_t page) {
  std::vector<uint8_t> code = TrampolineCode(page, PageSize());
  std::vector<uint8_t> bytes(code.size());
  constexpr size_t kTail = 32;  // the magic and what precedes it
  if (ReadTargetMemory(pid, page + code.size() - kTail, bytes.data() + code.size() - kTail, kTail)) return false;
  if (!std::equal(code.end() - kTail, code.end(), bytes.end() - kTail)) return false;
  return !ReadTargetMemory(pid, page, bytes.data(), code.size()) && bytes == code;
}

// Recognised by shape (a private anonymous r-x page followed by an rw- page) and by the
// code page's exact contents; the name only shows where CONFIG_ANON_VMA_NAME is set.
bool IsTrampolineAt(int pid, const Vma& code, const Vma& data) {
  uint64_t page = PageSize();
  bool named = code.name.empty() || code.name == std::string("[anon:") + kTrampolineName + "]";
  if (!named || code.perms != "r-xp" || code.end - code.start != page) return false;
  if (data.start != code.end || data.perms != "rw-p" || data.end - data.start != page) return false;
  return IsTrampolineCode(pid, code.start);
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

// The state the trampoline at `base` would restore: the save area's.
Status SavedState(int pid, uint64_t base, const user_regs_struct& now, Saved& saved) {
  std::vector<uint8_t> area(kSaveRip + 8);
  if (Status s = ReadTargetMemory(pid, base + PageSize(), area.data(), area.size())) return s;
  saved.regs = SaveAreaState(area, now, saved.mask);
  saved.masked = true;
  return std::nullopt;
}

// ---------------------------------------------------------------- queries in one run

// How long a thread waits in the query loop for cr to stop it: if cr died, it then restores
// itself. If cr was held up longer, it ran on (the snapshot fails, the program is unharmed).
constexpr uint64_t kQueryWaitMs = 500;
constexpr auto kQueryDeadline = std::chrono::seconds(5);

uint64_t Align8(uint64_t n) { return (n + 7) & ~7ull; }

// The end of the queries from `from` that fit one run: table, end mark and outputs in the scratch space.
size_t RunEnd(const std::vector<Query>& queries, size_t from) {
  uint64_t room = PageSize() - kQueryTable - 8 - kTrackerSlotBytes;
  size_t end = from;
  for (uint64_t used = 0; end < queries.size() && used + kQueryEntry + Align8(queries[end].outSize) <= room; end++) {
    used += kQueryEntry + Align8(queries[end].outSize);
  }
  return end;
}

// Lets the thread run the table, then stops it in the wait (PTRACE_INTERRUPT) once it has set
// the done word, or at the deadline. A SIGSTOP is passed on, as RunToSyscallExit does.
Status RunToQueryWait(int pid, int tid, uint64_t doneAt) {
  if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0) return SysFailure("ptrace(PTRACE_CONT)", tid);
  auto deadline = std::chrono::steady_clock::now() + kQueryDeadline;
  for (bool interrupted = false;;) {
    int status = 0;
    pid_t got = waitpid(tid, &status, __WALL | (interrupted ? 0 : WNOHANG));
    if (got < 0) return SysFailure("waitpid", tid);
    if (got == 0) {
      uint64_t done = 0;
      if (Status s = ReadTargetMemory(pid, doneAt, &done, sizeof done)) return s;
      if (done || std::chrono::steady_clock::now() > deadline) {
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) return SysFailure("ptrace(PTRACE_INTERRUPT)", tid);
        interrupted = true;
      } else {
        sched_yield();  // the thread may be waiting for this CPU
      }
    } else if (WIFEXITED(status) || WIFSIGNALED(status)) {
      return InjectionFailure(ESRCH, tid, "the thread exited during injected queries");
    } else if ((status >> 16) == PTRACE_EVENT_STOP) {
      return std::nullopt;
    } else if (WSTOPSIG(status) == SIGSTOP) {
      if (ptrace(PTRACE_CONT, tid, nullptr, SIGSTOP) != 0) return SysFailure("ptrace(PTRACE_CONT)", tid);
    } else {
      return InjectionFailure(EFAULT, tid, "signal " + std::to_string(WSTOPSIG(status)) + " during injected queries");
    }
  }
}

// Where the thread stopped: in the wait (the queries ran), or elsewhere in the trampoline (they
// did not end), or in the program's own code: it waited out the timeout, restored itself and ran.
Status CheckStoppedInWait(int tid, Trampoline& t) {
  user_regs_struct at{};
  if (Status s = GetRegsRaw(tid, at)) return s;
  if (at.rip == t.base + kQueryWaitSite + 2) return std::nullopt;
  if (at.rip >= t.base && at.rip < t.base + PageSize()) return InjectionFailure(ETIMEDOUT, tid, "injected queries did not end within " + std::to_string(kQueryDeadline.count()) + " s");
  g_saved.erase(tid);  // its own state now, which must not be overwritten with the stale one
  t.saveAreaOwner = 0;
  return InjectionFailure(EAGAIN, tid, "the thread ran on during the freeze: cr was held up longer than the " + std::to_string(kQueryWaitMs) + " ms it waits");
}

// The table image (trampoline.h) of queries [from, end): each output at its place after the table.
std::vector<uint64_t> QueryTable(const std::vector<Query>& queries, size_t from, size_t end, uint64_t data) {
  std::vector<uint64_t> image = {0, kQueryWaitMs / 1000, kQueryWaitMs % 1000 * 1'000'000};
  uint64_t out = data + kQueryTable + ((end - from) * 7 + 1) * 8;
  for (size_t i = from; i < end; i++) {
    std::array<uint64_t, 6> args = queries[i].args;
    if (queries[i].outSize) {
      args[queries[i].outArg] = out;
      out += Align8(queries[i].outSize);
    }
    image.push_back(static_cast<uint64_t>(queries[i].nr));
    image.insert(image.end(), args.begin(), args.end());
  }
  image.push_back(~0ull);
  return image;
}

// Runs queries [from, end) in one go; their results and outputs (back to back) go to `results` and `out`.
Status RunQueries(int pid, int tid, Trampoline& t, const std::vector<Query>& queries, size_t from, size_t end, int64_t* results, uint8_t* out) {
  uint64_t data = t.base + PageSize();
  for (size_t i = from; i < end; i++) {
    if (Status s = CheckRestartBlock(tid, queries[i].nr)) return s;
  }
  std::vector<uint64_t> table = QueryTable(queries, from, end, data);
  if (Status s = WriteTargetMemory(pid, data + kQueryDone, table.data(), table.size() * 8)) return s;
  if (Status s = EnterTrampoline(tid, t.base + kQuerySite, 0, {})) return s;
  if (Status s = RunToQueryWait(pid, tid, data + kQueryDone)) return s;
  if (Status s = CheckStoppedInWait(tid, t)) return s;
  // What ran: the table, its results over the numbers, then the outputs, read in one go.
  uint64_t outputs = 0;
  for (size_t i = from; i < end; i++) outputs += Align8(queries[i].outSize);
  size_t tableWords = table.size() - kQueryHeaderWords;  // the entries and the end mark
  std::vector<uint64_t> ran(tableWords + outputs / 8);
  if (Status s = ReadTargetMemory(pid, data + kQueryTable, ran.data(), ran.size() * 8)) return s;
  const uint8_t* output = reinterpret_cast<const uint8_t*>(ran.data() + tableWords);
  for (size_t i = from; i < end; output += Align8(queries[i].outSize), i++) {
    results[i] = static_cast<int64_t>(ran[(i - from) * 7]);
    std::memcpy(out, output, queries[i].outSize);
    out += queries[i].outSize;
  }
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

// queries: a BigUint64Array of 7 words a query (nr, 6 arguments) and a Uint32Array of 2 (the
// argument given the output's address, or ~0 for none; the output's size).
bool ReadQueries(const Napi::CallbackInfo& info, std::vector<Query>& queries) {
  if (info.Length() > 2 && info[1].IsTypedArray() && info[2].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_biguint64_array &&
      info[2].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array) {
    auto calls = info[1].As<Napi::TypedArrayOf<uint64_t>>();
    auto outs = info[2].As<Napi::Uint32Array>();
    size_t n = calls.ElementLength() / 7;
    bool ok = calls.ElementLength() == n * 7 && outs.ElementLength() == n * 2;
    for (size_t i = 0; ok && i < n; i++) {
      Query q{static_cast<long>(calls[i * 7]), {}, static_cast<int>(outs[i * 2]), outs[i * 2 + 1]};
      for (int a = 0; a < 6; a++) q.args[a] = calls[i * 7 + 1 + a];
      ok = q.outSize == 0 || (q.outArg >= 0 && q.outArg < 6);
      queries.push_back(q);
    }
    if (ok) return true;
  }
  ThrowType(info.Env(), "queries must be a BigUint64Array of 7 words and a Uint32Array of 2 a query");
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

Status AdoptOrphanedStates(int pid, const std::vector<int>& tids) {
  for (int tid : tids) {
    user_regs_struct now{};
    if (Status s = GetRegsRaw(tid, now)) return s;
    uint64_t page = now.rip & ~(PageSize() - 1);
    if (!IsTrampolineCode(pid, page)) continue;
    Saved saved{};
    if (Status s = SavedState(pid, page, now, saved)) return s;
    g_saved[tid] = saved;
    g_groups[tid] = pid;
    g_trampolines[pid] = {page, tid};
  }
  return std::nullopt;
}

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
  size = PageSize() - kScratch - kTrackerSlotBytes;
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

Status InjectQueriesRaw(int tid, const std::vector<Query>& queries, int64_t* results, uint8_t* out) {
  int pid = ThreadGroupOf(tid);
  Trampoline* t = nullptr;
  if (Status s = EnsureTrampoline(pid, tid, t)) return s;
  if (Status s = WriteSaveArea(pid, tid, *t)) return s;
  for (size_t from = 0; from < queries.size();) {
    size_t end = RunEnd(queries, from);
    if (end == from) return InjectionFailure(E2BIG, tid, "a query's output does not fit the scratch space");
    if (Status s = RunQueries(pid, tid, *t, queries, from, end, results, out)) return s;
    for (; from < end; from++) out += queries[from].outSize;
  }
  return std::nullopt;
}

Napi::Value InjectQueries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  std::vector<Query> queries;
  if (!ArgInt(info, 0, "tid", tid) || !ReadQueries(info, queries)) return env.Undefined();
  size_t outSize = 0;
  for (const Query& q : queries) outSize += q.outSize;
  auto results = Napi::BigInt64Array::New(env, queries.size());
  auto out = Napi::Buffer<uint8_t>::New(env, outSize);
  if (Status s = InjectQueriesRaw(tid, queries, results.Data(), out.Data())) return Throw(env, *s);
  Napi::Object answer = Napi::Object::New(env);
  answer.Set("results", results);
  answer.Set("out", out);
  return answer;
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
  Napi::Object slot = Napi::Object::New(env);
  slot.Set("address", BigU64(env, address + size));
  slot.Set("size", static_cast<double>(kTrackerSlotBytes));
  out.Set("trackerSlot", slot);
  return out;
}

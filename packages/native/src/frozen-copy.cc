#include "frozen-copy.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "args.h"
#include "errors.h"
#include "inject.h"
#include "memory.h"
#include "pool_job.h"
#include "procfs.h"

namespace {

// The go-between shares the process's memory (CLONE_VM: cheap, nothing is copied) and makes the
// copy, its child; killed at once, it leaves the copy an orphan of init (or of a subreaper
// above the process), so a cr that dies while it holds the copy leaves nothing in the process.
// Both are traced by cr from their creation (CLONE_PTRACE: as the parent was seized, each stops
// before it returns to user space). No CSIGNAL bits: the go-between's end sends the process
// no SIGCHLD, and only a wait with __WALL sees it.
constexpr uint64_t kGoBetweenCloneFlags = CLONE_VM | CLONE_PTRACE;
constexpr uint64_t kCopyCloneFlags = CLONE_PTRACE;

Failure CopyFailure(int err, int pid, const std::string& syscall, const std::string& detail) {
  Failure f = SysFailure(err, syscall, pid);
  f.detail = detail;
  return f;
}

// Waits for the child's first stop, then ties its life to cr's (PTRACE_O_EXITKILL).
Status HoldCopy(int child) {
  int status = 0;
  if (waitpid(child, &status, __WALL) != child) return SysFailure("waitpid", child);
  if (!WIFSTOPPED(status)) return CopyFailure(ESRCH, child, "clone", "the frozen copy exited before cr held it");
  // TRACESYSGOOD as the parent had it, for the injections; and the parent's seccomp filters,
  // which the child inherits, suspended as the parent's are (a filter refusing clone or prctl
  // would otherwise refuse them, or kill the child).
  long options = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
  if (StatusField(child, "Seccomp") != "0") options |= PTRACE_O_SUSPEND_SECCOMP;
  if (ptrace(PTRACE_SETOPTIONS, child, nullptr, options) != 0) return SysFailure("ptrace(PTRACE_SETOPTIONS)", child);
  return std::nullopt;
}

// The name tells a copy from the program's own processes in `ps`.
Status NameCopy(int child) {
  uint64_t scratch = 0;
  size_t size = 0;
  if (Status s = ScratchArea(child, scratch, size)) return s;
  if (Status s = WriteTargetMemory(child, scratch, kFrozenCopyName, sizeof kFrozenCopyName)) return s;
  int64_t r = 0;
  Status s = InjectSyscallRaw(child, SYS_prctl, {PR_SET_NAME, scratch, 0, 0, 0, 0}, r);
  ForgetThread(child);
  if (s) return s;
  if (r < 0) return CopyFailure(static_cast<int>(-r), child, "prctl(PR_SET_NAME)", "naming the frozen copy");
  return std::nullopt;
}

// Waits for the end of a child cr traces and has killed, as its tracer: it is then a zombie
// that its parent reaps. A stop it reported before the kill is not its end.
void WaitForEnd(int child) {
  int status = 0;
  pid_t got = 0;
  do got = waitpid(child, &status, __WALL);
  while (got == child && !WIFEXITED(status) && !WIFSIGNALED(status));
}

Status KillTraced(int child) {
  if (kill(child, SIGKILL) != 0) return SysFailure("kill", child);
  WaitForEnd(child);
  return std::nullopt;
}

// minflt + cminflt + majflt + cmajflt of /proc/PID/stat (fields 10 to 13).
uint64_t FaultsOf(int pid) {
  std::string stat;
  if (ReadTextFile(ProcPath(pid, "stat"), stat, pid)) return 0;
  size_t at = stat.rfind(')');
  if (at == std::string::npos) return 0;
  std::istringstream fields(stat.substr(at + 2));
  std::string field;
  uint64_t sum = 0;
  for (int n = 3; n <= 13 && fields >> field; n++) {
    if (n >= 10) sum += std::strtoull(field.c_str(), nullptr, 10);
  }
  return sum;
}

// Kills the go-between and has the frozen thread `tid` of its parent reap it; `faults` gets its
// page faults, which the parent's count of its reaped children's faults now holds.
Status ReapGoBetween(int tid, int goBetween, uint64_t& faults) {
  Status killed = KillTraced(goBetween);
  ForgetThread(goBetween);
  if (killed) return killed;
  faults = FaultsOf(goBetween);
  int64_t r = 0;
  if (Status s = InjectSyscallRaw(tid, SYS_wait4, {static_cast<uint64_t>(goBetween), 0, __WALL, 0, 0, 0}, r)) return s;
  if (r != goBetween) return CopyFailure(r < 0 ? static_cast<int>(-r) : ECHILD, tid, "wait4", "reaping the frozen copy's go-between");
  return std::nullopt;
}

// The copy, made by the held go-between `between` of thread `tid`'s process.
Status SpawnCopy(int tid, int between, int& copy) {
  int64_t child = 0;
  if (Status s = InjectCloneBy(tid, between, kCopyCloneFlags, child)) return s;
  if (child < 0) return CopyFailure(static_cast<int>(-child), between, "clone", "the frozen copy could not be made");
  copy = static_cast<int>(child);
  return HoldCopy(copy);
}

}  // namespace

Napi::Value ForkFrozenCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  int64_t between = 0;
  if (Status s = InjectClone(tid, kGoBetweenCloneFlags, between)) return Throw(env, *s);
  if (between < 0) return Throw(env, CopyFailure(static_cast<int>(-between), tid, "clone", "the frozen copy's go-between could not be made"));
  int copy = 0;
  Status made = HoldCopy(static_cast<int>(between));
  if (!made) made = SpawnCopy(tid, static_cast<int>(between), copy);
  uint64_t faults = 0;
  Status reaped = ReapGoBetween(tid, static_cast<int>(between), faults);
  if (!made && !reaped) made = NameCopy(copy);  // once alone: a copy seen by its name has no go-between left
  if (Status s = made ? made : reaped) {
    if (copy > 0) (void)KillTraced(copy);  // nothing of a copy that failed is left
    return Throw(env, *s);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", copy);
  out.Set("reapedFaults", BigU64(env, faults));
  return out;
}

Napi::Value DropFrozenCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  if (!ArgInt(info, 0, "pid", pid)) return env.Undefined();
  if (kill(pid, SIGKILL) != 0) return Throw(env, SysFailure("kill", pid));
  // Its end takes time (a copy of 1 GiB frees its page tables: ~45 ms), waited for on the pool
  // (a wait sees the tracees of every thread of cr).
  auto wait = [pid]() -> Status {
    WaitForEnd(pid);
    return std::nullopt;
  };
  return StartPoolJob(env, Napi::Object::New(env), wait, [](Napi::Env env) { return env.Undefined(); });
}

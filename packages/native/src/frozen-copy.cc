#include "frozen-copy.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>

#include "args.h"
#include "errors.h"
#include "inject.h"
#include "memory.h"
#include "procfs.h"

namespace {

// CLONE_PTRACE: the child is traced by cr from its creation; as the parent was seized, it
// stops (PTRACE_EVENT_STOP) before it returns to user space. No CSIGNAL bits: its exit sends
// the parent no SIGCHLD, and only a wait with __WALL sees it.
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
  // TRACESYSGOOD as the parent had it, for the injection that names the copy; and the parent's
  // seccomp filters, which the copy inherits, suspended as the parent's are (a filter refusing
  // prctl would otherwise refuse the naming, or kill the copy).
  long options = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
  if (StatusField(child, "Seccomp") != "0") options |= PTRACE_O_SUSPEND_SECCOMP;
  if (ptrace(PTRACE_SETOPTIONS, child, nullptr, options) != 0) return SysFailure("ptrace(PTRACE_SETOPTIONS)", child);
  return std::nullopt;
}

// The name tells a copy from the program's own processes: a cr killed while it held one
// leaves a zombie (its parent hears nothing of it), which the next snapshot reaps.
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

Status KillCopy(int child) {
  if (kill(child, SIGKILL) != 0) return SysFailure("kill", child);
  // Until it is gone: a stop it reported before the kill is not its end.
  int status = 0;
  pid_t got = 0;
  do got = waitpid(child, &status, __WALL);
  while (got == child && !WIFEXITED(status) && !WIFSIGNALED(status));
  return std::nullopt;
}

}  // namespace

Napi::Value ForkFrozenCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  int64_t child = 0;
  if (Status s = InjectClone(tid, kCopyCloneFlags, child)) return Throw(env, *s);
  if (child < 0) return Throw(env, CopyFailure(static_cast<int>(-child), tid, "clone", "the frozen copy could not be made"));
  Status held = HoldCopy(static_cast<int>(child));
  if (!held) held = NameCopy(static_cast<int>(child));
  if (Status s = held) {
    // Nothing of a copy that failed is left: killed, and reaped by its parent, still frozen.
    int64_t reaped = 0;
    if (!KillCopy(static_cast<int>(child))) (void)InjectSyscallRaw(tid, SYS_wait4, {static_cast<uint64_t>(child), 0, __WALL, 0, 0, 0}, reaped);
    return Throw(env, *s);
  }
  return Napi::Number::New(env, static_cast<double>(child));
}

Napi::Value DropFrozenCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  if (!ArgInt(info, 0, "pid", pid)) return env.Undefined();
  if (Status s = KillCopy(pid)) return Throw(env, *s);
  return env.Undefined();
}

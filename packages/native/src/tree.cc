// Process tree restore. Each child of a restored process is created by its restored parent, a
// fork-like clone3 injected into the parent's stub, so that getppid(), wait() and SIGCHLD work
// as before; a child that had died unreaped becomes a zombie of that parent again.
//
// cr traces every stub. A child created by a traced stub is attached from birth
// (PTRACE_O_TRACEFORK: a clone3 with exit_signal SIGCHLD is reported as PTRACE_EVENT_FORK,
// which the injection machinery passes over on its way to the syscall-exit stop). The child is
// a copy of its parent's stub, trampoline included, so syscalls can be injected into it at once;
// its registers are whatever the injection left, and the restart rebuilds them like any stub's.
#include "tree.h"

#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "args.h"
#include "inject.h"
#include "kernel_abi.h"
#include "memory.h"
#include "procfs.h"
#include "registers.h"
#include "spawn.h"

namespace {

// clone3's arguments followed by its one-entry set_tid array, as written into the parent.
struct CloneBlock {
  clone_args args;
  pid_t tid;
};

Failure Refused(int err, const char* what, int pid, const std::string& detail) {
  Failure f = SysFailure(err, what, pid);
  f.detail = detail;
  return f;
}

pid_t WaitFor(pid_t pid, int& status) {
  pid_t r;
  while ((r = waitpid(pid, &status, __WALL)) < 0 && errno == EINTR) {
  }
  return r;
}

Status Inject(int tid, long nr, const std::array<uint64_t, 6>& args, const char* what) {
  int64_t r = 0;
  if (Status s = InjectSyscallRaw(tid, nr, args, r)) return s;
  if (r < 0 && r > -4096) return Refused(static_cast<int>(-r), what, tid, "in the stub");
  return std::nullopt;
}

Status WriteCloneArgs(int parent, pid_t wanted, uint64_t& at) {
  size_t size = 0;
  if (Status s = ScratchArea(parent, at, size)) return s;
  CloneBlock block{};
  block.args.exit_signal = SIGCHLD;  // a process of its own: its parent hears of its death
  if (wanted > 0) {
    block.tid = wanted;
    block.args.set_tid = at + offsetof(CloneBlock, tid);
    block.args.set_tid_size = 1;
  }
  return WriteTargetMemory(parent, at, &block, sizeof block);
}

// The child's first stop is the SIGSTOP of its auto-attach, which may come before or after its
// parent's syscall-exit stop; resuming it later without a signal discards that SIGSTOP. It has
// inherited the stub's options: they are set anyway so that it never depends on that.
Status AwaitChildStop(pid_t child) {
  int status = 0;
  if (WaitFor(child, status) < 0) return SysFailure("waitpid", child);
  if (!WIFSTOPPED(status)) return Refused(ECHILD, "clone3", child, "the new child did not stop at its birth");
  if (ptrace(PTRACE_SETOPTIONS, child, nullptr, kStubPtraceOptions) != 0) return SysFailure("ptrace(PTRACE_SETOPTIONS)", child);
  return std::nullopt;
}

Status CloneChild(int parent, pid_t wanted, pid_t& child) {
  uint64_t at = 0;
  if (Status s = WriteCloneArgs(parent, wanted, at)) return s;
  int64_t r = 0;
  if (Status s = InjectSyscallRaw(parent, SYS_clone3, {at, sizeof(clone_args), 0, 0, 0, 0}, r)) return s;
  if (r < 0) {
    std::string in = "in the stub of PID " + std::to_string(parent);
    return Refused(static_cast<int>(-r), "clone3", wanted ? wanted : parent, r == -EEXIST ? "the PID is taken" : in);
  }
  child = static_cast<pid_t>(r);
  ForgetThread(child);  // whatever was cached under an earlier holder of this pid
  if (Status s = AwaitChildStop(child)) {
    int status = 0;
    kill(child, SIGKILL);
    WaitFor(child, status);
    return s;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- zombies

int ParentOf(int pid) { return std::atoi(StatusField(pid, "PPid").c_str()); }

bool SigchldPending(int pid) { return std::strtoull(StatusField(pid, "ShdPnd").c_str(), nullptr, 16) & CR_SIGBIT(SIGCHLD); }

// The state letter of /proc/PID/stat, after the comm (which may hold anything, ')' too).
char ProcState(int pid) {
  std::string stat;
  if (ReadTextFile(ProcPath(pid, "stat"), stat, pid)) return 0;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : 0;
}

// exit_group(code) on the trampoline's `syscall`, every signal blocked: not one instruction of
// the stub runs. orig_rax -1: no syscall restart is applied to these registers on resume.
Status StartExit(int pid, int code) {
  uint64_t site = 0;
  if (Status s = SyscallSite(pid, site)) return s;
  if (Status s = RestoreInjectedState(pid)) return s;
  user_regs_struct r{};
  if (Status s = GetRegsRaw(pid, r)) return s;
  r.rip = site;
  r.rax = SYS_exit_group;
  r.orig_rax = static_cast<uint64_t>(-1);
  r.rdi = static_cast<uint64_t>(code);
  if (Status s = SetRegsRaw(pid, r)) return s;
  return SetSigmaskRaw(pid, ~0ull);
}

// The stub dies of the signal's default action, as the process did. A stub spawned by cr
// inherits cr's ignored signals (Node ignores SIGPIPE), so the disposition is reset first; a
// core-dumping signal finds the stub not dumpable, so no core file is written for it.
Status StartSignalDeath(int pid, int sig) {
  if (sig != SIGKILL) {
    uint64_t at = 0;
    size_t size = 0;
    if (Status s = ScratchArea(pid, at, size)) return s;
    const uint8_t dfl[32] = {};  // struct kernel_sigaction, sa_handler SIG_DFL
    if (Status s = WriteTargetMemory(pid, at, dfl, sizeof dfl)) return s;
    if (Status s = Inject(pid, SYS_rt_sigaction, {static_cast<uint64_t>(sig), at, 0, 8, 0, 0}, "rt_sigaction")) return s;
  }
  if (CR_SIGBIT(sig) & SIG_KERNEL_COREDUMP_MASK) {
    if (Status s = Inject(pid, SYS_prctl, {PR_SET_DUMPABLE, 0, 0, 0, 0, 0}, "prctl(PR_SET_DUMPABLE)")) return s;
  }
  if (Status s = RestoreInjectedState(pid)) return s;  // it resumes from where it was
  if (Status s = SetSigmaskRaw(pid, ~CR_SIGBIT(sig))) return s;  // only this signal gets through
  if (syscall(SYS_tgkill, pid, pid, sig) != 0) return SysFailure("tgkill", pid);
  return std::nullopt;
}

// Resumes the stub until it dies: the signal it is to die of is passed on at its
// signal-delivery-stop, any other stop is resumed without its signal. cr is the tracer, not the
// parent: its wait detaches the dead stub and hands it to the real parent (which gets SIGCHLD)
// as a zombie, without reaping it.
Status RunToDeath(int pid, int sig, int& status) {
  int pass = 0;
  for (int stops = 0; stops < 16; stops++) {
    // ESRCH: no longer stopped; a SIGKILL wakes a traced stop and the stub is already dying.
    if (ptrace(PTRACE_CONT, pid, nullptr, pass) != 0 && errno != ESRCH) return SysFailure("ptrace(PTRACE_CONT)", pid);
    if (WaitFor(pid, status) < 0) return SysFailure("waitpid", pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) return std::nullopt;
    pass = (status >> 16) == 0 && WSTOPSIG(status) == sig ? sig : 0;
  }
  return Refused(EBUSY, "makeZombie", pid, "the stub kept stopping instead of dying");
}

Status CheckDeath(int pid, int code, int sig, int status) {
  bool right = sig ? WIFSIGNALED(status) && WTERMSIG(status) == sig : WIFEXITED(status) && WEXITSTATUS(status) == (code & 0xff);
  if (!right) return Refused(EIO, "makeZombie", pid, "the stub ended otherwise than asked: wait status " + std::to_string(status));
  if (ProcState(pid) != 'Z') return Refused(ECHILD, "makeZombie", pid, "its parent does not keep zombies (SIGCHLD ignored or SA_NOCLDWAIT): the kernel reaped it");
  return std::nullopt;
}

// The parent's SIGCHLD is the kernel's doing at the tracer's wait; the checkpointed parent had
// its own pending signals, restored from the image. One it did not have already is taken back
// (rt_sigtimedwait with a zero timeout, in the parent's stub).
Status TakeBackSigchld(int parent) {
  uint64_t at = 0;
  size_t size = 0;
  if (Status s = ScratchArea(parent, at, size)) return s;
  const uint64_t block[3] = {CR_SIGBIT(SIGCHLD), 0, 0};  // sigset_t, then a zero struct timespec
  if (Status s = WriteTargetMemory(parent, at, block, sizeof block)) return s;
  return Inject(parent, SYS_rt_sigtimedwait, {at, 0, at + 8, 8, 0, 0}, "rt_sigtimedwait");
}

Status Zombify(int pid, int code, int sig) {
  int parent = ParentOf(pid);
  if (parent <= 1 || parent == getpid()) return Refused(EINVAL, "makeZombie", pid, "its parent is not a restored process (PPid " + std::to_string(parent) + ")");
  if (sig && (CR_SIGBIT(sig) & (SIG_KERNEL_IGNORE_MASK | SIG_KERNEL_STOP_MASK))) {
    return Refused(EINVAL, "makeZombie", pid, "signal " + std::to_string(sig) + " does not end a process by default");
  }
  bool hadSigchld = SigchldPending(parent);
  if (Status s = sig ? StartSignalDeath(pid, sig) : StartExit(pid, code)) return s;
  int status = 0;
  Status s = RunToDeath(pid, sig, status);
  ForgetThread(pid);
  if (s) return s;
  if (Status c = CheckDeath(pid, code, sig, status)) return c;
  return hadSigchld ? std::nullopt : TakeBackSigchld(parent);
}

}  // namespace

Napi::Value CloneStub(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = 0, wanted = 0;
  if (!ArgInt(info, 0, "parentPid", parent) || !ArgInt(info, 1, "childPid", wanted)) return env.Undefined();
  pid_t child = 0;
  if (Status s = CloneChild(parent, wanted, child)) return Throw(env, *s);
  return Napi::Number::New(env, child);
}

Napi::Value MakeZombie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0, code = 0, sig = 0;
  if (!ArgInt(info, 0, "pid", pid) || !ArgInt(info, 1, "code", code) || !ArgInt(info, 2, "signal", sig)) return env.Undefined();
  if (code < 0 || code > 255 || sig < 0 || sig > 64) return ThrowType(env, "makeZombie: code 0..255, signal 0..64");
  if (Status s = Zombify(pid, code, sig)) return Throw(env, *s);
  return env.Undefined();
}

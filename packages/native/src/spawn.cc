// The body of a restarted process: the restore stub, started with clone3 so that it gets the
// checkpointed PID (set_tid), with the file descriptor table already arranged, and stopped
// at its exec under ptrace before it runs a single instruction.
//
// The child side runs in a copy of this multi-threaded Node process: between clone3 and
// execve it only makes raw syscalls (no allocation, no locks). A failure there is reported
// through a close-on-exec pipe as (step, errno), the classic fork/exec error channel.
#include "spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "inject.h"

namespace {

constexpr int kHighFd = 1000;  // where sources are parked so no dup2 clobbers another source

struct ChildError {
  int step;
  int err;
};

enum Step { kTraceMe = 1, kPark, kPlace, kChdir, kExec };

const char* StepName(int step) {
  switch (step) {
    case kTraceMe: return "ptrace(PTRACE_TRACEME)";
    case kPark: return "fcntl(F_DUPFD) of a restored descriptor";
    case kPlace: return "dup2 of a restored descriptor";
    case kChdir: return "chdir to the saved working directory";
    default: return "execve of the restore stub";
  }
}

[[noreturn]] void ChildFail(int report, int step) {
  ChildError e{step, errno};
  (void)!write(report, &e, sizeof e);
  _exit(127);
}

// Sources go above every target first, then to their targets; everything else is closed.
[[noreturn]] void ChildMain(const char* stub, const std::vector<std::pair<int, int>>& fds, const char* cwd, int report) {
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ChildFail(report, kTraceMe);
  int parked[1024];
  size_t n = fds.size() < 1024 ? fds.size() : 1024;
  for (size_t i = 0; i < n; i++) {
    parked[i] = fcntl(fds[i].second, F_DUPFD_CLOEXEC, kHighFd + 24);
    if (parked[i] < 0) ChildFail(report, kPark);
  }
  for (size_t i = 0; i < n; i++) {
    if (dup2(parked[i], fds[i].first) < 0) ChildFail(report, kPlace);  // dup2 clears FD_CLOEXEC
  }
  if (chdir(cwd) != 0) ChildFail(report, kChdir);
  // Everything not placed is close-on-exec or closed here; the report pipe closes at exec.
  for (int fd = 0; fd < kHighFd; fd++) {
    bool placed = false;
    for (size_t i = 0; i < n && !placed; i++) placed = fds[i].first == fd;
    if (!placed && fd != report) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  syscall(SYS_close_range, kHighFd, ~0u, CLOSE_RANGE_CLOEXEC);
  char* const argv[] = {const_cast<char*>(stub), nullptr};
  char* const envp[] = {nullptr};
  execve(stub, argv, envp);
  ChildFail(report, kExec);
}

// The stub stops with SIGTRAP at its exec; from then on cr's death kills it (EXITKILL).
Status AwaitExecStop(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, __WALL) < 0) return SysFailure("waitpid", pid);
  if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
    Failure f = SysFailure(ECHILD, "exec of the restore stub", pid);
    f.detail = "the stub did not stop at its exec";
    return f;
  }
  if (ptrace(PTRACE_SETOPTIONS, pid, nullptr, kStubPtraceOptions) != 0) return SysFailure("ptrace(PTRACE_SETOPTIONS)", pid);
  return std::nullopt;
}

Status Clone3(pid_t wanted, pid_t& out) {
  clone_args args{};
  args.exit_signal = SIGCHLD;
  pid_t tids[1] = {wanted};
  if (wanted > 0) {
    args.set_tid = reinterpret_cast<uint64_t>(tids);
    args.set_tid_size = 1;
  }
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r < 0) {
    Failure f = SysFailure("clone3", wanted);
    if (errno == EEXIST) f.detail = "the PID is taken";
    return f;
  }
  out = static_cast<pid_t>(r);
  return std::nullopt;
}

Status Spawn(const std::string& stub, pid_t wanted, const std::vector<std::pair<int, int>>& fds, const std::string& cwd, pid_t& out) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return SysFailure("pipe2");
  pid_t pid = 0;
  if (Status s = Clone3(wanted, pid)) {
    close(report[0]), close(report[1]);
    return s;
  }
  if (pid == 0) ChildMain(stub.c_str(), fds, cwd.c_str(), report[1]);
  close(report[1]);
  ChildError e{};
  ssize_t got = read(report[0], &e, sizeof e);
  close(report[0]);
  if (got == sizeof e) {
    waitpid(pid, nullptr, __WALL);
    Failure f = SysFailure(e.err, StepName(e.step), pid);
    if (e.step == kChdir) f.path = cwd;
    return f;
  }
  out = pid;
  if (Status s = AwaitExecStop(pid)) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
    return s;
  }
  return std::nullopt;
}

bool ArgString(const Napi::Object& o, const char* name, std::string& out) {
  Napi::Value v = o.Get(name);
  if (!v.IsString()) return false;
  out = v.As<Napi::String>().Utf8Value();
  return true;
}

}  // namespace

Napi::Value SpawnStub(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowType(env, "spawnStub needs an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string stub, cwd;
  if (!ArgString(o, "stub", stub) || !ArgString(o, "cwd", cwd) || !o.Get("pid").IsNumber() || !o.Get("fds").IsArray()) {
    return ThrowType(env, "spawnStub: {stub: string, cwd: string, pid: number, fds: [target, source][]}");
  }
  pid_t wanted = o.Get("pid").As<Napi::Number>().Int32Value();
  std::vector<std::pair<int, int>> fds;
  Napi::Array list = o.Get("fds").As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Array pair = list.Get(i).As<Napi::Array>();
    fds.emplace_back(pair.Get(0u).As<Napi::Number>().Int32Value(), pair.Get(1u).As<Napi::Number>().Int32Value());
  }
  pid_t pid = 0;
  if (Status s = Spawn(stub, wanted, fds, cwd, pid)) return Throw(env, *s);
  return Napi::Number::New(env, pid);
}

Napi::Value WaitThreadStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  int status = 0;
  if (waitpid(tid, &status, __WALL) < 0) return Throw(env, SysFailure("waitpid", tid));
  if (!WIFSTOPPED(status)) return Throw(env, SysFailure(ESRCH, "waitpid (new thread)", tid));
  return env.Undefined();
}

Napi::Value ReleaseRestored(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> tids;
  if (!ArgIntArray(info, 0, "tids", tids)) return env.Undefined();
  Status first;
  for (int tid : tids) {
    Status s = RestoreInjectedState(tid);  // a thread parked after an injection: its own state first
    if (s && !first) first = s;
    if (ptrace(PTRACE_DETACH, tid, nullptr, 0) != 0 && !first) first = SysFailure("ptrace(PTRACE_DETACH)", tid);
    ForgetThread(tid);
  }
  if (first) return Throw(env, *first);
  return env.Undefined();
}

// Only the given tids are reaped: a wait for any child would steal Node's own children. A
// leader that is also this process's own child is reaped by its tracer's wait too, so with
// reapLeader false it is only waited for (WNOWAIT): whoever spawned it reaps it.
Napi::Value KillTraced(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> tids;
  if (!ArgIntArray(info, 0, "tids", tids) || tids.empty()) return env.Undefined();
  bool reapLeader = info.Length() < 2 || info[1].ToBoolean().Value();
  kill(tids[0], SIGKILL);
  // Traced threads stay zombies until their tracer waits for them; the leader goes last.
  for (size_t i = tids.size(); i-- > 0;) {
    siginfo_t si;
    int r;
    if (i == 0 && !reapLeader) {
      while ((r = waitid(P_PID, tids[0], &si, WEXITED | WNOWAIT | __WALL)) < 0 && errno == EINTR) {
      }
    } else {
      while ((r = waitpid(tids[i], nullptr, __WALL)) < 0 && errno == EINTR) {
      }
    }
    ForgetThread(tids[i]);
  }
  return env.Undefined();
}

Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0;
  if (!ArgInt(info, 0, "pid", pid)) return env.Undefined();
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r < 0) return Throw(env, SysFailure("waitpid", pid));
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  out.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return out;
}

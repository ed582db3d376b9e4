// Stopping and releasing every thread of a process with PTRACE_SEIZE/INTERRUPT/DETACH.
// SEIZE (unlike ATTACH) sends no SIGSTOP, so the target never sees a signal it did not
// expect, and a group-stopped target stays group-stopped after we detach.
#include "freeze.h"

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <thread>

#include "args.h"
#include "errors.h"
#include "inject.h"
#include "procfs.h"

namespace {

using Clock = std::chrono::steady_clock;

// TRACESYSGOOD only changes how syscall stops are reported to us, never the target.
constexpr long kSeizeOptions = PTRACE_O_TRACESYSGOOD;

bool IsEventStop(int status) { return (status >> 16) == PTRACE_EVENT_STOP; }

// The kernel answers EPERM both for "already traced" and for a zombie; tell them apart.
Failure SeizeFailure(int err, int tid) {
  Failure f = SysFailure(err, "ptrace(PTRACE_SEIZE)", tid);
  if (err != EPERM) return f;
  std::string state = StatusField(tid, "State");
  if (state.empty() || state[0] == 'Z' || state[0] == 'X') {
    f.err = ESRCH;
    f.detail = "the process is exiting (zombie)";
    return f;
  }
  std::string tracer = StatusField(tid, "TracerPid");
  if (!tracer.empty() && tracer != "0") f.detail = "already traced by pid " + tracer;
  return f;
}

// Polls waitpid so a thread stuck in uninterruptible sleep cannot hang us past the deadline.
// Returns 0 on timeout, otherwise waitpid's result.
int WaitWithDeadline(int tid, int& status, Clock::time_point deadline) {
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    int r = waitpid(tid, &status, __WALL | WNOHANG);
    if (r != 0) return r;
    if (Clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

class Freezer {
 public:
  Freezer(int pid, int timeoutMs) : pid_(pid), deadline_(Clock::now() + std::chrono::milliseconds(timeoutMs)) {}
  Freezer(const Freezer&) = delete;
  Freezer& operator=(const Freezer&) = delete;
  ~Freezer() { DetachAll(); }

  Status Run();
  const std::vector<int>& stopped() const { return stopped_; }
  std::vector<int> Release() { return std::exchange(stopped_, {}); }

 private:
  Status SeizeAndInterrupt(int tid);
  Status WaitForStop(int tid, Clock::time_point deadline);
  Status WaitPending();
  void DetachAll();

  int pid_;
  Clock::time_point deadline_;
  std::set<int> seen_;
  std::vector<int> pending_;  // seized and interrupted, stop not yet reported
  std::vector<int> stopped_;
};

Status Freezer::SeizeAndInterrupt(int tid) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, kSeizeOptions) != 0) {
    // A thread that exited (or is exiting: EPERM on a zombie) since we listed it is simply
    // dropped; the leader is the process.
    Failure f = SeizeFailure(errno, tid);
    if (f.err == ESRCH && tid != pid_) return std::nullopt;
    return f;
  }
  pending_.push_back(tid);
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH) {
    return SysFailure("ptrace(PTRACE_INTERRUPT)", tid);
  }
  return std::nullopt;
}

// A signal-delivery stop means the thread had already dequeued a signal: hand it back so it
// is delivered as it would have been; the pending interrupt stops the thread right after.
Status Freezer::WaitForStop(int tid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    int r = WaitWithDeadline(tid, status, deadline);
    if (r == 0) {
      Failure f = SysFailure(ETIMEDOUT, "waitpid", tid);
      f.detail = "thread did not stop in time (state " + StatusField(tid, "State") + ")";
      return f;
    }
    if (r < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid != pid_) return std::nullopt;  // dropped: the thread exited
      return SysFailure(ESRCH, "waitpid", tid);
    }
    if (IsEventStop(status)) {
      stopped_.push_back(tid);
      return std::nullopt;
    }
    if (ptrace(PTRACE_CONT, tid, nullptr, WSTOPSIG(status)) != 0) return SysFailure("ptrace(PTRACE_CONT)", tid);
  }
}

Status Freezer::WaitPending() {
  while (!pending_.empty()) {
    int tid = pending_.front();
    Status s = WaitForStop(tid, deadline_);
    pending_.erase(pending_.begin());
    if (s) return s;
  }
  return std::nullopt;
}

// New threads can appear while we attach (spawned by threads not yet stopped), so re-list
// until a pass finds none.
Status Freezer::Run() {
  for (;;) {
    std::vector<int> tasks;
    if (ListTasks(pid_, tasks)) return SysFailure(ESRCH, "open(/proc/PID/task)", pid_);
    std::sort(tasks.begin(), tasks.end());
    std::stable_partition(tasks.begin(), tasks.end(), [this](int tid) { return tid == pid_; });
    bool sawNew = false;
    for (int tid : tasks) {
      if (!seen_.insert(tid).second) continue;
      sawNew = true;
      if (Status s = SeizeAndInterrupt(tid)) return s;
    }
    if (Status s = WaitPending()) return s;
    if (!sawNew) break;
  }
  if (stopped_.empty() || stopped_.front() != pid_) return SysFailure(ESRCH, "ptrace(PTRACE_SEIZE)", pid_);
  return std::nullopt;
}

// Undo a failed freeze: threads seized but not yet stopped must reach their stop before the
// kernel lets us detach them, so give them a short grace period.
void Freezer::DetachAll() {
  auto grace = Clock::now() + std::chrono::milliseconds(500);
  // A thread that still does not stop stays traced until we exit; nothing more can be done.
  for (int tid : pending_) (void)WaitForStop(tid, grace);
  pending_.clear();
  for (int tid : stopped_) ptrace(PTRACE_DETACH, tid, nullptr, 0);
  stopped_.clear();
}

}  // namespace

Napi::Value Freeze(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = 0, timeoutMs = 0;
  if (!ArgInt(info, 0, "pid", pid) || !ArgInt(info, 1, "timeoutMs", timeoutMs)) return env.Undefined();
  if (pid <= 0) return ThrowType(env, "pid must be positive");
  Freezer freezer(pid, timeoutMs);
  if (Status s = freezer.Run()) return Throw(env, *s);
  for (int tid : freezer.stopped()) ForgetThread(tid);  // nothing from an earlier freeze applies now
  if (Status s = AdoptOrphanedStates(pid, freezer.stopped())) return Throw(env, *s);
  std::vector<int> tids = freezer.Release();
  Napi::Array out = Napi::Array::New(env, tids.size());
  for (size_t i = 0; i < tids.size(); i++) out.Set(static_cast<uint32_t>(i), tids[i]);
  return out;
}

// ESRCH from DETACH means the thread died meanwhile (SIGKILL wakes traced threads): nothing
// is left to release. Any other failure is reported after every thread had its chance.
Status ThawThreads(const std::vector<int>& tids) {
  Status first;
  for (int tid : tids) {
    Status s = RestoreInjectedState(tid);
    if (s && s->err == ESRCH) s.reset();  // the thread died: nothing left to restore
    if (ptrace(PTRACE_DETACH, tid, nullptr, 0) != 0 && errno != ESRCH && !s) s = SysFailure("ptrace(PTRACE_DETACH)", tid);
    if (s && !first) first = s;
    ForgetThread(tid);
  }
  return first;
}

Napi::Value Thaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> tids;
  if (!ArgIntArray(info, 0, "tids", tids)) return env.Undefined();
  if (Status s = ThawThreads(tids)) return Throw(env, *s);
  return env.Undefined();
}

#pragma once

#include <napi.h>
#include <sys/ptrace.h>

// The ptrace options of every restore stub. EXITKILL: if cr dies, the half-built process dies.
// TRACECLONE attaches the threads cr creates in it; TRACEFORK the child processes (a clone3
// whose exit_signal is SIGCHLD is reported as PTRACE_EVENT_FORK, not PTRACE_EVENT_CLONE).
constexpr long kStubPtraceOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL;

// spawnStub({stub, pid, fds, cwd}): starts the restore stub as a child with clone3 (set_tid =
// pid unless 0), its descriptors dup'ed into place, stopped at its exec under ptrace.
Napi::Value SpawnStub(const Napi::CallbackInfo& info);
// waitThreadStop(tid): collects the first stop of a thread auto-attached by PTRACE_O_TRACECLONE.
Napi::Value WaitThreadStop(const Napi::CallbackInfo& info);
// releaseRestored(tids): detaches every thread of a restored process and forgets its trampoline.
Napi::Value ReleaseRestored(const Napi::CallbackInfo& info);
// killTraced(tids, reapLeader): SIGKILL a process cr traces (leader first in tids) and reap every thread: a
// traced thread stays a zombie until its tracer waits for it; then its parent is told.
Napi::Value KillTraced(const Napi::CallbackInfo& info);
// waitExit(pid): blocks until the child exits; {code, signal}.
Napi::Value WaitExit(const Napi::CallbackInfo& info);

#pragma once

#include <napi.h>

#include <array>
#include <cstdint>
#include <vector>

#include "errors.h"

// Runs one syscall in a frozen thread through the persistent trampoline; result is the raw
// return value (negative errno).
Status InjectSyscallRaw(int tid, long nr, const std::array<uint64_t, 6>& args, int64_t& result);
// A syscall that only reads (or sets cr's own scratch space): several run in one go.
struct Query {
  long nr;
  std::array<uint64_t, 6> args;
  int outArg;        // the argument given the address of the query's output in the scratch space
  uint32_t outSize;  // 0: no output
};
// Runs the queries in a frozen thread through the trampoline's query loop: one stop of the
// thread for as many as fit the scratch space, against two for each injected syscall. results:
// each raw result (negative errno); out: the outputs back to back.
Status InjectQueriesRaw(int tid, const std::vector<Query>& queries, int64_t* results, uint8_t* out);
// Runs clone(flags) in a frozen thread at the trampoline's fork site (trampoline.h): the child
// returns there too, and exits at once if nothing holds it. result: the child's pid or -errno.
Status InjectClone(int tid, uint64_t flags, int64_t& result);
// Runs clone(flags) in `goBetween`, a CLONE_VM child of thread `tid`'s process that stopped at
// the fork site, at the trampoline's spawn site: there both it and its child exit if they ever
// run. The save area, which it shares with the process, is left as it is.
Status InjectCloneBy(int tid, int goBetween, uint64_t flags, int64_t& result);
// A writable area inside the trampoline for syscall arguments.
Status ScratchArea(int tid, uint64_t& address, size_t& size);
// The trampoline's `syscall` instruction, for a caller that runs a syscall that never returns.
Status SyscallSite(int tid, uint64_t& site);
// Puts back the registers and signal mask of a thread parked after an injection (or whose
// injection did not finish): before its own state is read, set or resumed.
Status RestoreInjectedState(int tid);
// Drops what was cached about a thread (and, for a leader, its process's trampoline): valid
// only while frozen, since the process may exec or the tid be reused meanwhile.
void ForgetThread(int tid);
int ThreadGroupOf(int tid);
// Threads of a process just frozen that an earlier cr, killed, left inside the trampoline on
// their way back (waiting out a query run, say): the state the trampoline would restore, held
// in its save area, is taken as theirs, to be read, saved and put back as their own.
Status AdoptOrphanedStates(int pid, const std::vector<int>& tids);
// The next trampoline created in process `pid` goes exactly at `address` (MAP_FIXED_NOREPLACE).
void PlaceTrampoline(int pid, uint64_t address);

Napi::Value PlaceTrampolineAt(const Napi::CallbackInfo& info);

Napi::Value InjectSyscall(const Napi::CallbackInfo& info);
Napi::Value InjectQueries(const Napi::CallbackInfo& info);
Napi::Value Scratch(const Napi::CallbackInfo& info);

// The trampoline: two pages mapped once into the target and found again on later snapshots.
//
// Code page (r-x):  +0  syscall          <- every injected syscall runs here
//                   +2  restore routine: rt_sigprocmask(SIG_SETMASK, saved mask), then
//                       every general register, rflags and rsp from the save area, then
//                       jmp [saved rip].
//                   kForkSite: syscall   <- the injected clone of a frozen copy's go-between
//                       (frozen-copy.cc); then the parent (rax != 0) goes to the restore
//                       routine, and the child (rax == 0) calls exit_group: if it ever runs
//                       (cr died before it could hold it), it never runs a line of the program.
//                   kSpawnSite: syscall  <- the clone the go-between makes the copy with; then
//                       parent and child alike call exit_group. Nothing here reads the save
//                       area, which the go-between shares with the process.
//                   kQuerySite: the query loop <- injected queries (InjectQueries): runs
//                       each syscall of the table at kQueryTable in turn, storing its result
//                       over its number, until the number ~0; sets the word at kQueryDone;
//                       then waits in ppoll for at most the timespec at kQueryTimeout
//                       (kQueryWaitSite), where cr stops it. If cr died meanwhile, the wait
//                       ends and the thread goes on to the restore routine.
// Data page (rw-):  the save area (the thread's resume state), scratch space, and in its last
//                   kTrackerSlotBytes the tracker's history slot (core: trackers/history.ts),
//                   which no use of the scratch space reaches.
//
// While cr drives the thread, it stops at the syscall exit and puts the original registers
// back itself; the restore routine only runs if cr dies mid-injection, and then returns the
// orphaned thread exactly to where it was.
#pragma once

#include <sys/user.h>

#include <cstdint>
#include <vector>

constexpr uint64_t kSaveMask = 0;     // u64 signal mask
constexpr uint64_t kSaveRegs = 8;     // r15 ... rdi: the first 15 fields of user_regs_struct
constexpr uint64_t kSaveFlags = 128;  // then rflags, rsp, rip, in the order the routine pops
constexpr uint64_t kSaveRsp = 136;
constexpr uint64_t kSaveRip = 144;
constexpr uint64_t kScratch = 256;
constexpr uint64_t kTrackerSlotBytes = 16;
constexpr uint64_t kQueryDone = kScratch;          // while queries run, the scratch space holds:
constexpr uint64_t kQueryTimeout = kScratch + 8;   //   the wait's struct timespec,
constexpr uint64_t kQueryTable = kScratch + 24;    //   then the table: nr and 6 arguments a query
constexpr uint64_t kQueryEntry = 7 * 8;
constexpr uint64_t kQueryHeaderWords = (kQueryTable - kQueryDone) / 8;  // the done word and the timespec
constexpr uint64_t kForkSite = 128;  // offsets in the code page
constexpr uint64_t kSpawnSite = 160;
constexpr uint64_t kQuerySite = 192;
constexpr uint64_t kQueryWaitSite = 276;  // the wait's `syscall`, inside the query loop's code
constexpr char kTrampolineName[] = "cr-trampoline";

// The code page's bytes for a trampoline mapped at `base` (rip-relative, so base matters).
std::vector<uint8_t> TrampolineCode(uint64_t base, uint64_t pageSize);

// The save area image: signal mask and the registers the routine pops.
std::vector<uint8_t> SaveAreaImage(const user_regs_struct& resume, uint64_t mask);
// The state a save area `image` (SaveAreaImage's size) holds, the registers it does not hold
// taken from `now`; its mask into `mask`.
user_regs_struct SaveAreaState(const std::vector<uint8_t>& image, const user_regs_struct& now, uint64_t& mask);

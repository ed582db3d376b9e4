import { CLONE, ERRNO, getRegs, getRobustList, getRseq, getSigmask, getXState, peekPendingSignals, PRCTL, REG, setRegs, setSigmask, setXState, SIGNALS, STRUCTS, SYSCALL_INSN_SIZE, waitThreadStop } from "@cr/native";
import type { ThreadRecord } from "@cr/format";
import type { Problem } from "../check.js";
import { Queries, SCRATCH, type Remote } from "../process/inject.js";
import { readProcText } from "../process/procfs.js";

const { stack_t, clone_args, robust_list_head } = STRUCTS;

/**
 * Threads, checkpoint half: everything a restart needs to put one thread back: registers
 * (general and xsave), blocked signals and thread-directed pending ones, the alternate signal
 * stack, and the rseq / robust-list / clear-tid registrations. The thread must be frozen.
 */
export function collectThread(pid: number, tid: number): ThreadRecord {
  const queries = new Queries(pid, tid);
  const thread = askThread(queries);
  queries.run();
  return thread();
}

/** collectThread of the thread `queries` run in, its part of them asked with theirs (the leader's with the process's). */
export function askThread(queries: Queries): () => ThreadRecord {
  const altstack = queries.ask("sigaltstack", [0n, SCRATCH], "sigaltstack", stack_t.size);
  const tidAddress = queries.ask("prctl", [PRCTL.PR_GET_TID_ADDRESS, SCRATCH], "prctl(PR_GET_TID_ADDRESS)", 8);
  return () => threadRecord(queries.tid, altstack.out, tidAddress.out);
}

function threadRecord(tid: number, altstack: Buffer, tidAddress: Buffer): ThreadRecord {
  const rseq = getRseq(tid);
  const robust = getRobustList(tid);
  return {
    tid,
    regs: getRegs(tid),
    xstate: getXState(tid),
    sigmask: getSigmask(tid),
    altstackSp: altstack.readBigUInt64LE(stack_t.ss_sp),
    altstackFlags: altstack.readUInt32LE(stack_t.ss_flags),
    altstackSize: altstack.readBigUInt64LE(stack_t.ss_size),
    rseqAddr: rseq.address,
    rseqLen: rseq.length,
    rseqSig: rseq.signature,
    robustListHead: robust.head,
    robustListLen: robust.length,
    clearTidAddress: tidAddress.readBigUInt64LE(0),
    pendingSignals: peekPendingSignals(tid, false),
  };
}

/**
 * A thread whose credentials differ from the leader's: a raw setuid/setgid/setgroups syscall
 * changes only the calling thread (glibc's wrappers change every thread). An image holds one set
 * for the process, which a restart gives every thread, so such a process is refused.
 */
export function threadCredentialProblems(pid: number, tids: number[]): Problem[] {
  const credentials = (tid: number) => {
    const status = readProcText(pid, `task/${tid}/status`);
    return ["Uid", "Gid", "Groups"].map((key) => new RegExp(`^${key}:(.*)$`, "m").exec(status)?.[1]?.trim() ?? "").join(" / ");
  };
  const leader = credentials(pid);
  return tids
    .filter((tid) => tid !== pid)
    .map((tid) => ({ tid, own: credentials(tid) }))
    .filter(({ own }) => own !== leader)
    .map(({ tid, own }) => ({
      resource: `thread ${tid}`,
      kind: "thread-credentials",
      reason: `its uids / gids / groups (${own}) differ from the process's (${leader}), set by a raw syscall in that thread: cr restores one set for every thread`,
    }));
}

// ================================================================ restart half

/**
 * Threads, restart half. The leader is the stub itself; every other thread is created in it
 * by an injected clone3 with set_tid = its saved TID, and is attached from birth
 * (PTRACE_O_TRACECLONE). Each thread then registers its own rseq area, robust list, clear-tid
 * address and altstack (they are per-thread kernel state), and last of all gets its registers,
 * XSAVE state and signal mask.
 */

const { CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD, CLONE_SYSVSEM } = CLONE;
const CLONE_THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
const { SS_DISABLE, SS_AUTODISARM } = SIGNALS;

/** Creates thread `tid` (or any tid, with 0) in the process; returns its tid, stopped. */
export function cloneThread(leader: Remote, tid: number): number {
  const args = Buffer.alloc(clone_args.size + 8); // the set_tid array (one pid_t) after the struct
  args.writeBigUInt64LE(BigInt(CLONE_THREAD_FLAGS), clone_args.flags);
  if (tid > 0) {
    args.writeInt32LE(tid, clone_args.size);
    const at = leader.put(args);
    args.writeBigUInt64LE(at + BigInt(clone_args.size), clone_args.set_tid);
    args.writeBigUInt64LE(1n, clone_args.set_tid_size);
  }
  const at = leader.put(args);
  const created = Number(leader.call("clone3", [at, BigInt(clone_args.size)], `creating thread ${tid || "(any tid)"}`));
  waitThreadStop(created);
  return created;
}

/** The per-thread registrations the kernel keeps: rseq, robust list, clear-tid, altstack. */
export function restoreRegistrations(thread: Remote, saved: ThreadRecord): void {
  const what = (x: string) => `restoring thread ${saved.tid}'s ${x}`;
  if (saved.rseqAddr !== 0n) thread.call("rseq", [saved.rseqAddr, BigInt(saved.rseqLen), 0n, BigInt(saved.rseqSig)], what("rseq area"));
  if (saved.robustListHead !== 0n) thread.call("set_robust_list", [saved.robustListHead, BigInt(robust_list_head.size)], what("robust futex list"));
  thread.call("set_tid_address", [saved.clearTidAddress], what("clear-tid address"));
  if (!(saved.altstackFlags & SS_DISABLE) && saved.altstackSize > 0n) {
    const stack = Buffer.alloc(stack_t.size);
    stack.writeBigUInt64LE(saved.altstackSp, stack_t.ss_sp);
    stack.writeUInt32LE((saved.altstackFlags & SS_AUTODISARM) >>> 0, stack_t.ss_flags); // SS_ONSTACK is a state, not a setting
    stack.writeBigUInt64LE(saved.altstackSize, stack_t.ss_size);
    thread.call("sigaltstack", [thread.put(stack), 0n], what("alternate signal stack"));
  }
}

// The kernel's internal restart codes, seen (negated) in rax of a thread stopped inside a syscall.
const RESTART_CODES = [ERRNO.ERESTARTSYS, ERRNO.ERESTARTNOINTR, ERRNO.ERESTARTNOHAND, ERRNO.ERESTART_RESTARTBLOCK].map((code) => -code);

/**
 * The registers a thread resumes with. A thread checkpointed inside an interrupted syscall
 * (orig_rax = nr, rax = -ERESTART*) re-executes it: rip goes back over the 2-byte `syscall`
 * and rax gets the number again. The restart_block of -ERESTART_RESTARTBLOCK (the remaining
 * time of a sleep) does not survive a restart, so that syscall runs again from its original
 * arguments. orig_rax = -1 keeps the kernel from applying its own restart logic on top.
 */
export function resumeRegisters(saved: Uint8Array): Buffer {
  const regs = Buffer.from(saved);
  const origRax = regs.readBigInt64LE(REG.orig_rax);
  const rax = regs.readBigInt64LE(REG.rax);
  if (origRax >= 0n && RESTART_CODES.includes(rax)) {
    regs.writeBigInt64LE(origRax, REG.rax);
    regs.writeBigUInt64LE(regs.readBigUInt64LE(REG.rip) - SYSCALL_INSN_SIZE, REG.rip);
  }
  regs.writeBigInt64LE(-1n, REG.orig_rax);
  return regs;
}

/** Last: registers, XSAVE state and blocked signals, after the thread's final injection. */
export function applyThreadState(tid: number, saved: ThreadRecord): void {
  setXState(tid, Buffer.from(saved.xstate));
  setRegs(tid, resumeRegisters(saved.regs));
  setSigmask(tid, saved.sigmask);
}

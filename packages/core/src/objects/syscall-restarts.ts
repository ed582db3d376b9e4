/**
 * Syscalls the kernel continues through restart_syscall. A blocking poll, nanosleep,
 * clock_nanosleep or futex wait with a timeout, interrupted by a stop, returns
 * -ERESTART_RESTARTBLOCK and leaves what it needs to go on (the remaining time, its arguments)
 * in the thread's restart_block; when the thread resumes, the kernel runs restart_syscall, which
 * continues from there. A restart cannot recreate a restart_block, so restart_syscall in a
 * restarted process fails with EINTR, an error the program never saw in its run.
 *
 * Every snapshot stops the target (the warm-up, each freeze), so a thread blocked across two
 * stops is found inside restart_syscall at the second. cr notes the syscall each stop
 * interrupted, and saves a thread found inside restart_syscall as interrupted in the syscall it
 * continues (the same call site and arguments), known from an earlier stop of this cr process or
 * from the parent image: a restart runs that syscall again from its arguments (threads.ts).
 */
import { ERRNO, getRegs, REG, SYS } from "@cr/native";
import type { ThreadRecord } from "@cr/format";

const RESTART_BLOCK = -ERRNO.ERESTART_RESTARTBLOCK;
const RESTART_SYSCALL = BigInt(SYS.restart_syscall);

/** By TID: the syscall a stop interrupted, and where (call site and arguments). */
const interrupted = new Map<number, { nr: bigint; site: string }>();

/** A record's registers, read in place. */
function view(regs: Uint8Array): Buffer {
  return Buffer.from(regs.buffer, regs.byteOffset, regs.byteLength);
}

/** Call site and arguments: what restart_syscall leaves as the interrupted syscall had them. */
function siteOf(regs: Uint8Array): string {
  return (["rip", "rdi", "rsi", "rdx", "r10", "r8", "r9"] as const).map((r) => view(regs).readBigUInt64LE(REG[r])).join(":");
}

function syscallState(regs: Uint8Array): { nr: bigint; rax: bigint } {
  return { nr: view(regs).readBigInt64LE(REG.orig_rax), rax: view(regs).readBigInt64LE(REG.rax) };
}

/** The syscall these registers show interrupted with a restart_block, if any. */
function interruptedIn(regs: Uint8Array): bigint | undefined {
  const { nr, rax } = syscallState(regs);
  return nr >= 0n && nr !== RESTART_SYSCALL && rax === RESTART_BLOCK ? nr : undefined;
}

function inRestartSyscall(regs: Uint8Array): boolean {
  const { nr, rax } = syscallState(regs);
  return nr === RESTART_SYSCALL && rax === RESTART_BLOCK;
}

/** After cr stopped `tids`: what each was interrupted in, for a later stop to recognise. */
export function noteInterrupted(tids: number[]): void {
  for (const tid of tids) {
    const regs = getRegs(tid);
    const nr = interruptedIn(regs);
    if (nr !== undefined) interrupted.set(tid, { nr, site: siteOf(regs) });
    else if (!inRestartSyscall(regs)) interrupted.delete(tid);
  }
}

/**
 * The threads as saved: one inside restart_syscall as interrupted in the syscall it continues,
 * found among this process's stops or `parentThreads` (the same TID's record in the parent
 * image); and a warning for one whose syscall cr never saw begin.
 */
export function asInterrupted(threads: ThreadRecord[], parentThreads: readonly ThreadRecord[]): { threads: ThreadRecord[]; warnings: string[] } {
  const warnings: string[] = [];
  const saved = threads.map((t) => {
    if (!inRestartSyscall(t.regs)) return t;
    const nr = originalSyscall(t, parentThreads.find((p) => p.tid === t.tid));
    if (nr === undefined) {
      warnings.push(`thread ${t.tid} was inside a syscall the kernel continues (restart_syscall) that cr did not see begin: after a restart that syscall fails with EINTR`);
      return t;
    }
    const regs = Buffer.from(t.regs);
    regs.writeBigInt64LE(nr, REG.orig_rax);
    return { ...t, regs };
  });
  return { threads: saved, warnings };
}

function originalSyscall(thread: ThreadRecord, parent: ThreadRecord | undefined): bigint | undefined {
  const site = siteOf(thread.regs);
  const seen = interrupted.get(thread.tid);
  if (seen?.site === site) return seen.nr;
  return parent && siteOf(parent.regs) === site ? interruptedIn(parent.regs) : undefined;
}

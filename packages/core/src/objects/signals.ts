import { peekPendingSignals, SIGNALS, STRUCTS } from "@cr/native";
import type { Sigaction, SignalsRecord } from "@cr/format";
import { SCRATCH, type Answer, type Queries, type Remote } from "../process/inject.js";

const { SIGKILL, SIGSTOP, SIGCHLD, _NSIG } = SIGNALS;
const { kernel_sigaction, sigset_t, siginfo_t } = STRUCTS;
const SIG_DFL: Sigaction = { handler: 0n, flags: 0n, restorer: 0n, mask: 0n };

/**
 * Signals, checkpoint half: the process-wide dispositions and pending signals. Handlers are
 * asked with rt_sigaction queries, only for signals /proc says are caught or ignored (plus
 * SIGCHLD, whose flags matter even at default); the record is made once the queries have run.
 */
export function askSignals(queries: Queries, caught: bigint, ignored: bigint): () => SignalsRecord {
  const asked: (Answer | null)[] = [];
  for (let sig = 1; sig <= _NSIG; sig++) {
    const bit = 1n << BigInt(sig - 1);
    const interesting = (caught | ignored) & bit || sig === SIGCHLD;
    asked.push(interesting && sig !== SIGKILL && sig !== SIGSTOP ? queries.ask("rt_sigaction", [BigInt(sig), 0n, SCRATCH, BigInt(sigset_t.size)], `rt_sigaction(${sig})`, kernel_sigaction.size) : null);
  }
  return () => ({ actions: asked.map((a) => (a ? sigaction(a.out) : SIG_DFL)), sharedPending: peekPendingSignals(queries.tid, true) });
}

function sigaction(raw: Buffer): Sigaction {
  return {
    handler: raw.readBigUInt64LE(kernel_sigaction.sa_handler),
    flags: raw.readBigUInt64LE(kernel_sigaction.sa_flags),
    restorer: raw.readBigUInt64LE(kernel_sigaction.sa_restorer),
    mask: raw.readBigUInt64LE(kernel_sigaction.sa_mask),
  };
}

// ================================================================ restart half

/**
 * Signals, restart half: every disposition that is not the default, installed with injected
 * rt_sigaction (handler, flags with SA_RESTORER, restorer and mask as saved); then the pending
 * signals are queued again, to the process or to their thread. All signals stay blocked while
 * cr injects, so nothing is delivered before the registers are in place.
 */
export function restoreSignals(remote: Remote, saved: SignalsRecord): void {
  saved.actions.forEach((action, i) => {
    const sig = i + 1;
    if (sig === SIGKILL || sig === SIGSTOP) return;
    if (action.handler === 0n && action.flags === 0n && action.mask === 0n) return;
    const raw = Buffer.alloc(kernel_sigaction.size);
    raw.writeBigUInt64LE(action.handler, kernel_sigaction.sa_handler);
    raw.writeBigUInt64LE(action.flags, kernel_sigaction.sa_flags);
    raw.writeBigUInt64LE(action.restorer, kernel_sigaction.sa_restorer);
    raw.writeBigUInt64LE(action.mask, kernel_sigaction.sa_mask);
    remote.call("rt_sigaction", [BigInt(sig), remote.put(raw), 0n, BigInt(sigset_t.size)], `restoring the action of signal ${sig}`);
  });
  for (const info of saved.sharedPending) queueSignal(remote, info, null);
}

/** Queues a saved siginfo again: to the process, or to thread `tid`. */
export function queueSignal(remote: Remote, info: Uint8Array, tid: number | null): void {
  const raw = Buffer.from(info);
  const sig = BigInt(raw.readInt32LE(siginfo_t.si_signo));
  const at = remote.put(raw);
  const what = `queueing pending signal ${sig}`;
  if (tid === null) remote.call("rt_sigqueueinfo", [BigInt(remote.pid), sig, at], what);
  else remote.call("rt_tgsigqueueinfo", [BigInt(remote.pid), BigInt(tid), sig, at], what);
}

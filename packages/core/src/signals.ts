import { peekPendingSignals } from "@cr/native";
import type { Sigaction, SignalsRecord } from "@cr/format";
import { injectForStruct, SCRATCH } from "./inject.js";

const SIGKILL = 9;
const SIGSTOP = 19;
const SIGCHLD = 17;
const NSIG = 64;
const SIG_DFL: Sigaction = { handler: 0n, flags: 0n, restorer: 0n, mask: 0n };

/**
 * Signals, checkpoint half: the process-wide dispositions and pending signals. Handlers are read
 * with injected rt_sigaction calls, only for signals /proc says are caught or ignored (plus
 * SIGCHLD, whose flags matter even at default): each injection adds to the target's downtime.
 */
export function collectSignals(pid: number, tid: number, caught: bigint, ignored: bigint): SignalsRecord {
  const actions: Sigaction[] = [];
  for (let sig = 1; sig <= NSIG; sig++) {
    const bit = 1n << BigInt(sig - 1);
    const interesting = (caught | ignored) & bit || sig === SIGCHLD;
    actions.push(interesting && sig !== SIGKILL && sig !== SIGSTOP ? readSigaction(pid, tid, sig) : SIG_DFL);
  }
  return { actions, sharedPending: peekPendingSignals(tid, true) };
}

function readSigaction(pid: number, tid: number, sig: number): Sigaction {
  // struct kernel_sigaction: handler, flags, restorer, mask (8 bytes each with an 8-byte sigset)
  const raw = injectForStruct(pid, tid, "rt_sigaction", [BigInt(sig), 0n, SCRATCH, 8n], 32);
  return { handler: raw.readBigUInt64LE(0), flags: raw.readBigUInt64LE(8), restorer: raw.readBigUInt64LE(16), mask: raw.readBigUInt64LE(24) };
}

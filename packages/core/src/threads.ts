import { getRegs, getRobustList, getRseq, getSigmask, getXState, peekPendingSignals } from "@cr/native";
import type { ThreadRecord } from "@cr/format";
import { injectForStruct, SCRATCH } from "./inject.js";

const PR_GET_TID_ADDRESS = 40n;

/**
 * Threads, checkpoint half: everything a restart needs to put one thread back: registers
 * (general and xsave), blocked signals and thread-directed pending ones, the alternate signal
 * stack, and the rseq / robust-list / clear-tid registrations. The thread must be frozen.
 */
export function collectThread(pid: number, tid: number): ThreadRecord {
  const rseq = getRseq(tid);
  const robust = getRobustList(tid);
  const altstack = injectForStruct(pid, tid, "sigaltstack", [0n, SCRATCH], 24); // stack_t
  const tidAddress = injectForStruct(pid, tid, "prctl", [PR_GET_TID_ADDRESS, SCRATCH], 8);
  return {
    tid,
    regs: getRegs(tid),
    xstate: getXState(tid),
    sigmask: getSigmask(tid),
    altstackSp: altstack.readBigUInt64LE(0),
    altstackFlags: altstack.readUInt32LE(8),
    altstackSize: altstack.readBigUInt64LE(16),
    rseqAddr: rseq.address,
    rseqLen: rseq.length,
    rseqSig: rseq.signature,
    robustListHead: robust.head,
    robustListLen: robust.length,
    clearTidAddress: tidAddress.readBigUInt64LE(0),
    pendingSignals: peekPendingSignals(tid, false),
  };
}

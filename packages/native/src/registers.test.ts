import { afterEach, describe, expect, it } from "vitest";

import {
  freeze, getRegs, getRobustList, getRseq, getSigmask, getXState, peekPendingSignals, probeKernel, REG, REGS_SIZE, setRegs, setSigmask, setXState, thaw,
} from "./index.js";
import { killTargets, sleep, startTarget } from "./test-support/programs.js";

afterEach(killTargets);

const XMM_OFFSET = 160; // xmm0 in the FXSAVE layout that starts the XSAVE area
const RSEQ_SIG = 0x53053053; // glibc's x86-64 rseq signature
const bit = (signal: number) => 1n << BigInt(signal - 1);

async function frozenRegsTarget() {
  const target = await startTarget("regs");
  await sleep(20); // past the write(2), into the spin loop
  return { target, tids: freeze(target.pid) };
}

describe("thread state", () => {
  it("reads the general and xmm registers the program loaded", async () => {
    const { tids } = await frozenRegsTarget();
    const regs = getRegs(tids[0]!);
    expect(regs.length).toBe(REGS_SIZE);
    expect(regs.readBigUInt64LE(REG.r12)).toBe(0x1111222233334444n);
    expect(regs.readBigUInt64LE(REG.r13)).toBe(0x5555666677778888n);
    expect(regs.readBigUInt64LE(REG.r14)).toBe(0x99990000aaaabbbbn);
    expect(regs.readBigUInt64LE(REG.r15)).toBe(0xccccddddeeeeffffn);
    const xstate = getXState(tids[0]!);
    expect(xstate.length).toBe(probeKernel().xstateSize);
    for (let i = 0; i < 16; i++) {
      expect(xstate.subarray(XMM_OFFSET + 16 * i, XMM_OFFSET + 16 * (i + 1))).toEqual(Buffer.alloc(16, ((i + 1) * 0x11) & 0xff));
    }
    thaw(tids);
  });

  it("writes registers and xstate back so that they read back equal", async () => {
    const { tids } = await frozenRegsTarget();
    const tid = tids[0]!;
    const original = getRegs(tid);
    const changed = Buffer.from(original);
    changed.writeBigUInt64LE(0x0123456789abcdefn, REG.r12);
    setRegs(tid, changed);
    expect(getRegs(tid).readBigUInt64LE(REG.r12)).toBe(0x0123456789abcdefn);
    const xstate = getXState(tid);
    const xchanged = Buffer.from(xstate);
    xchanged.fill(0x77, XMM_OFFSET, XMM_OFFSET + 16);
    setXState(tid, xchanged);
    expect(getXState(tid).subarray(XMM_OFFSET, XMM_OFFSET + 16)).toEqual(Buffer.alloc(16, 0x77));
    setXState(tid, xstate);
    setRegs(tid, original);
    expect(getRegs(tid)).toEqual(original);
    thaw(tids);
  });

  it("reads the signal mask, both pending queues, rseq and the robust list", async () => {
    const target = await startTarget("worker", ["sigs"]);
    const [tid] = freeze(target.pid);
    const mask = getSigmask(tid!);
    expect(mask & (bit(10) | bit(12))).toBe(bit(10) | bit(12)); // SIGUSR1, SIGUSR2
    const own = peekPendingSignals(tid!, false);
    const shared = peekPendingSignals(tid!, true);
    expect(own.map((s) => s.readInt32LE(0))).toEqual([10]);
    expect(shared.map((s) => s.readInt32LE(0))).toEqual([12]);
    expect(own[0]!.length).toBe(128);
    setSigmask(tid!, mask | bit(1));
    expect(getSigmask(tid!)).toBe(mask | bit(1));
    setSigmask(tid!, mask);
    const rseq = getRseq(tid!);
    expect(rseq.address).not.toBe(0n);
    expect(rseq.length).toBeGreaterThanOrEqual(32);
    expect(rseq.signature).toBe(RSEQ_SIG);
    const robust = getRobustList(tid!);
    expect(robust.head).not.toBe(0n);
    expect(robust.length).toBe(24n);
    thaw([tid!]);
  });
});

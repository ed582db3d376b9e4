import { describe, expect, it } from "vitest";
import { REG, REGS_SIZE, SYS } from "@cr/native";
import type { ThreadRecord } from "@cr/format";
import { asInterrupted } from "./syscall-restarts.js";

const POLL = 7n;
const RESTART_BLOCK = -516n;

function thread(tid: number, fields: Partial<Record<keyof typeof REG, bigint>>): ThreadRecord {
  const regs = Buffer.alloc(REGS_SIZE);
  for (const [name, value] of Object.entries(fields)) regs.writeBigInt64LE(value, REG[name as keyof typeof REG]);
  return { tid, regs, xstate: new Uint8Array(0), sigmask: 0n, altstackSp: 0n, altstackFlags: 0, altstackSize: 0n, rseqAddr: 0n, rseqLen: 0, rseqSig: 0, robustListHead: 0n, robustListLen: 0n, clearTidAddress: 0n, pendingSignals: [] };
}

const origRax = (t: ThreadRecord) => Buffer.from(t.regs).readBigInt64LE(REG.orig_rax);
const site = { rip: 0x7f0000001002n, rdi: 0x7ffc0000n, rsi: 1n, rdx: -1n };

describe("asInterrupted", () => {
  it("saves a thread inside restart_syscall as the poll the parent image saw interrupted at the same site", () => {
    const parent = [thread(42, { ...site, orig_rax: POLL, rax: RESTART_BLOCK })];
    const now = thread(42, { ...site, orig_rax: BigInt(SYS.restart_syscall), rax: RESTART_BLOCK });
    const { threads, warnings } = asInterrupted([now], parent);
    expect(origRax(threads[0]!)).toBe(POLL);
    expect(warnings).toEqual([]);
  });

  it("keeps restart_syscall, with a warning, when no earlier stop saw the syscall begin there", () => {
    const parent = [thread(42, { ...site, rdi: 0x1000n, orig_rax: POLL, rax: RESTART_BLOCK })];
    const now = thread(42, { ...site, orig_rax: BigInt(SYS.restart_syscall), rax: RESTART_BLOCK });
    const { threads, warnings } = asInterrupted([now], parent);
    expect(origRax(threads[0]!)).toBe(BigInt(SYS.restart_syscall));
    expect(warnings).toEqual([expect.stringContaining("thread 42 was inside a syscall the kernel continues")]);
  });

  it("leaves threads outside restart_syscall as they are", () => {
    const running = thread(7, { rip: 0x1000n, orig_rax: -1n, rax: 3n });
    expect(asInterrupted([running], []).threads[0]).toBe(running);
  });
});

import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";

import { freeze, getRegs, getSigmask, injectQueries, injectSyscall, readMemory, scratch, thaw, writeMemory, type Query } from "./index.js";
import { expectProgress, killTargets, sleep, startTarget } from "./test-support/programs.js";

afterEach(killTargets);

const SYS = { read: 0, getpid: 39, gettid: 186, close: 3, nanosleep: 35, uname: 63, rt_sigaction: 13 };

function trampolineLines(pid: number, base: bigint): string[] {
  const start = (base: bigint) => base.toString(16).padStart(8, "0");
  return readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").filter((l) => l.startsWith(start(base) + "-") || l.startsWith(start(base + 4096n) + "-"));
}

/** `worker read`, blocked in read(2), frozen while `act` runs: it then reads exactly what is written to it. */
async function expectReadUndisturbed(act: (tid: number, pid: number) => void): Promise<void> {
  const target = await startTarget("worker", ["read"]);
  await sleep(50);
  const tids = freeze(target.pid);
  act(tids[0]!, target.pid);
  thaw(tids);
  target.proc.stdin!.write("hello");
  await target.waitFor(/^read 1 hello$/);
  expect(target.failures()).toEqual([]);
}

describe("injectSyscall", () => {
  it("runs getpid in the target, leaves registers and mask as they were, and the target continues", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tids = freeze(target.pid);
    const regs = getRegs(tids[0]!);
    const mask = getSigmask(tids[0]!);
    expect(injectSyscall(tids[0]!, SYS.getpid)).toBe(BigInt(target.pid));
    expect(getRegs(tids[0]!)).toEqual(regs);
    expect(getSigmask(tids[0]!)).toBe(mask);
    thaw(tids);
    await expectProgress(target);
    expect(target.failures()).toEqual([]);
  });

  it("runs in the thread it is given, in every thread of a busy multi-threaded target", async () => {
    const target = await startTarget("worker", ["threads"]);
    const tids = freeze(target.pid);
    for (const tid of tids) {
      expect(injectSyscall(tid, SYS.gettid)).toBe(BigInt(tid));
      expect(injectSyscall(tid, SYS.getpid)).toBe(BigInt(target.pid));
    }
    thaw(tids);
    await expectProgress(target);
  });

  it("returns failures as a negative errno", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tids = freeze(target.pid);
    expect(injectSyscall(tids[0]!, SYS.close, [100_000n])).toBe(-9n); // EBADF
    thaw(tids);
  });

  it("passes pointer arguments through the scratch area", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tids = freeze(target.pid);
    const area = scratch(tids[0]!);
    expect(area.size).toBeGreaterThanOrEqual(390);
    expect(injectSyscall(tids[0]!, SYS.uname, [area.address])).toBe(0n);
    const utsname = Buffer.alloc(65);
    readMemory(target.pid, new BigUint64Array([area.address, 65n]), utsname);
    expect(utsname.toString("latin1").replace(/\0.*$/s, "")).toBe("Linux");
    writeMemory(target.pid, area.address, Buffer.alloc(65));
    thaw(tids);
  });

  it("does not disturb a thread blocked in nanosleep (no EINTR, full sleep)", async () => {
    const target = await startTarget("worker", ["sleep"]);
    await target.waitFor(/^slept 1/);
    for (let round = 0; round < 5; round++) {
      const tids = freeze(target.pid);
      expect(injectSyscall(tids[0]!, SYS.getpid)).toBe(BigInt(target.pid));
      thaw(tids);
      await sleep(30);
    }
    await target.waitFor(/^slept 3/);
    expect(target.failures()).toEqual([]);
  });

  it("refuses to inject a sleep that would reset an interrupted sleep's restart", async () => {
    const target = await startTarget("worker", ["sleep"]);
    await sleep(50);
    const tids = freeze(target.pid);
    expect(() => injectSyscall(tids[0]!, SYS.nanosleep, [0n, 0n])).toThrow(expect.objectContaining({ code: "EBUSY" }));
    thaw(tids);
    await target.waitFor(/^slept 2/);
    expect(target.failures()).toEqual([]);
  });

  it("does not disturb a thread blocked in read: it gets exactly the data written later", async () => {
    await expectReadUndisturbed((tid, pid) => expect(injectSyscall(tid, SYS.getpid)).toBe(BigInt(pid)));
  });

  it("maps the trampoline once and finds it again on later freezes", async () => {
    const target = await startTarget("worker", ["spin"]);
    let tids = freeze(target.pid);
    const first = scratch(tids[0]!).address;
    thaw(tids);
    tids = freeze(target.pid);
    expect(scratch(tids[0]!).address).toBe(first);
    thaw(tids);
    const base = first - 4096n - 256n;
    const lines = trampolineLines(target.pid, base);
    expect(lines.map((l) => l.split(/\s+/)[1])).toEqual(["r-xp", "rw-p"]);
  });
});

describe("injectQueries", () => {
  const SIGACTION_SIZE = 32;
  const sigaction = (sig: number): Query => ({ nr: SYS.rt_sigaction, args: [BigInt(sig), 0n, 0n, 8n], out: { arg: 2, size: SIGACTION_SIZE } });
  const oneByOne = (tid: number, sig: number) => {
    const area = scratch(tid);
    expect(injectSyscall(tid, SYS.rt_sigaction, [BigInt(sig), 0n, area.address, 8n])).toBe(0n);
    const out = Buffer.alloc(SIGACTION_SIZE);
    readMemory(tid, new BigUint64Array([area.address, BigInt(SIGACTION_SIZE)]), out);
    return out;
  };

  it("runs its queries in one go in every thread: each result and output as injected one by one, registers and mask untouched", async () => {
    const target = await startTarget("worker", ["threads"]);
    const tids = freeze(target.pid);
    for (const tid of tids) {
      const regs = getRegs(tid);
      const mask = getSigmask(tid);
      const answers = injectQueries(tid, [{ nr: SYS.getpid, args: [] }, sigaction(2), { nr: SYS.close, args: [100_000n] }, { nr: SYS.gettid, args: [] }, sigaction(17)]);
      expect(answers.map((a) => a.result)).toEqual([BigInt(target.pid), 0n, -9n, BigInt(tid), 0n]);
      expect(answers.map((a) => a.out.length)).toEqual([0, SIGACTION_SIZE, 0, 0, SIGACTION_SIZE]);
      expect(answers[1]!.out).toEqual(oneByOne(tid, 2));
      expect(answers[4]!.out).toEqual(oneByOne(tid, 17));
      expect(getRegs(tid)).toEqual(regs);
      expect(getSigmask(tid)).toBe(mask);
    }
    thaw(tids);
    await expectProgress(target);
    expect(target.failures()).toEqual([]);
  });

  it("runs more queries than the scratch area holds in several goes, in order", async () => {
    const target = await startTarget("worker", ["sleep"]);
    await target.waitFor(/^slept 1/);
    const tids = freeze(target.pid);
    const signals = Array.from({ length: 120 }, (_, i) => (i % 64) + 1).filter((sig) => sig !== 9 && sig !== 19);
    const answers = injectQueries(tids[0]!, signals.map(sigaction));
    expect(answers.map((a) => a.result)).toEqual(signals.map(() => 0n));
    signals.forEach((sig, i) => expect(answers[i]!.out).toEqual(oneByOne(tids[0]!, sig)));
    thaw(tids);
    await target.waitFor(/^slept 3/);
    expect(target.failures()).toEqual([]);
  });

  it("never writes the tracker's slot past the scratch area, however many queries fill it", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tids = freeze(target.pid);
    const { trackerSlot, address, size } = scratch(tids[0]!);
    expect(trackerSlot.address).toBe(address + BigInt(size));
    const mark = Buffer.from("0123456789abcdef");
    writeMemory(target.pid, trackerSlot.address, mark);
    for (const queries of [Array.from({ length: 200 }, () => ({ nr: SYS.getpid, args: [] })), Array.from({ length: 100 }, () => sigaction(2))]) {
      expect(injectQueries(tids[0]!, queries).every((a) => a.result >= 0n)).toBe(true);
    }
    const slot = Buffer.alloc(16);
    readMemory(target.pid, new BigUint64Array([trackerSlot.address, 16n]), slot);
    expect(slot).toEqual(mark);
    thaw(tids);
    await expectProgress(target);
  });

  it("stops a query that blocks after its deadline, with an error, and the thread goes back to its own read", async () => {
    const blocking: Query = { nr: SYS.read, args: [0n, 0n, 1n], out: { arg: 1, size: 1 } };
    await expectReadUndisturbed((tid) => expect(() => injectQueries(tid, [{ nr: SYS.getpid, args: [] }, blocking])).toThrow(expect.objectContaining({ code: "ETIMEDOUT" })));
  });

  it("refuses a sleep that would reset an interrupted sleep's restart, before anything runs", async () => {
    const target = await startTarget("worker", ["sleep"]);
    await sleep(50);
    const tids = freeze(target.pid);
    expect(() => injectQueries(tids[0]!, [{ nr: SYS.getpid, args: [] }, { nr: SYS.nanosleep, args: [0n, 0n] }])).toThrow(expect.objectContaining({ code: "EBUSY" }));
    thaw(tids);
    await target.waitFor(/^slept 2/);
    expect(target.failures()).toEqual([]);
  });
});

import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";

import { freeze, PAGE_IS_PRESENT, PAGE_IS_WRITTEN, pagemapScan, readMemory, registerWriteTracking, secureWritten, thaw, writeMemory } from "./index.js";
import { killTargets, startTarget, type Target } from "./test-support/programs.js";

afterEach(killTargets);

const PAGE = 4096n;
const TRACKED_PAGES = 16n;
const MASK = PAGE_IS_WRITTEN | PAGE_IS_PRESENT;

/** The pages target with its first TRACKED_PAGES pages tracked, and pages 2 and 9 written since. */
async function writtenTarget(): Promise<{ target: Target; area: bigint }> {
  const target = await startTarget("pages");
  const area = BigInt(target.lines[0]!.split(" ")[1]!);
  const tids = freeze(target.pid);
  registerWriteTracking(tids[0]!, new BigUint64Array([area, area + TRACKED_PAGES * PAGE]), false);
  thaw(tids);
  await target.command("w 2");
  await target.command("t 9");
  return { target, area };
}

function member(pid: number, area: bigint, copyAtMost: number) {
  const page = (n: bigint) => area + n * PAGE;
  // page 20: present, outside the tracked pages, named by the plan
  return { pid, armed: new BigUint64Array([page(0n), page(TRACKED_PAGES)]), unarmed: new BigUint64Array(0), extra: new BigUint64Array([page(20n), page(21n)]), copyAtMost };
}

function stopped(pid: number): boolean {
  return /^TracerPid:\s+[1-9]/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
}

describe("secureWritten", () => {
  it("re-arms the written pages, copies them and the plan's other pages in address order, and thaws the threads", async () => {
    const { target, area } = await writtenTarget();
    const tids = freeze(target.pid);
    const expected = Buffer.alloc(3 * Number(PAGE));
    readMemory(target.pid, new BigUint64Array([area + 2n * PAGE, PAGE, area + 9n * PAGE, PAGE, area + 20n * PAGE, PAGE]), expected);
    const into = Buffer.alloc(8 * Number(PAGE));
    const { scans, copied, bytes } = secureWritten([member(target.pid, area, 100)], MASK, into, tids);
    expect(copied).toBe(true);
    expect(bytes).toEqual([3 * Number(PAGE)]);
    expect(into.subarray(0, expected.length).equals(expected)).toBe(true);
    expect([...scans[0]![0]].filter((_, i) => i % 3 !== 2)).toEqual([area + 2n * PAGE, area + 3n * PAGE, area + 9n * PAGE, area + 10n * PAGE]);
    expect(stopped(target.pid)).toBe(false);
    expect(await target.command("w 4")).toBe("ok"); // it runs
    const again = pagemapScan(target.pid, area, area + TRACKED_PAGES * PAGE, { writeProtect: true, categories: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN });
    expect([...again].slice(0, 2), "re-armed: only the page written since").toEqual([area + 4n * PAGE, area + 5n * PAGE]);
  });

  it("copies nothing and leaves the threads stopped when a member's pages exceed its copyAtMost, or the buffer", async () => {
    const { target, area } = await writtenTarget();
    const tids = freeze(target.pid);
    try {
      const small = secureWritten([member(target.pid, area, 100)], MASK, Buffer.alloc(2 * Number(PAGE)), tids);
      expect(small.copied).toBe(false);
      expect(small.bytes).toEqual([3 * Number(PAGE)]);
      expect(small.scans[0]![0].length, "the scan ran and re-armed all the same").toBe(6);
      expect(stopped(target.pid)).toBe(true);
      const over = secureWritten([member(target.pid, area, 0)], MASK, Buffer.alloc(8 * Number(PAGE)), tids);
      expect(over.copied).toBe(false);
      expect(over.scans[0]![0].length, "nothing written since the last scan").toBe(0);
      expect(stopped(target.pid)).toBe(true);
    } finally {
      thaw(tids);
    }
  });

  it("answers null for a member whose tracked range is not registered, and copies nothing", async () => {
    const { target, area } = await writtenTarget();
    const tids = freeze(target.pid);
    try {
      const untracked = { ...member(target.pid, area, 100), armed: new BigUint64Array([area + 32n * PAGE, area + 40n * PAGE]) };
      const { scans, copied } = secureWritten([untracked], MASK, Buffer.alloc(8 * Number(PAGE)), tids);
      expect(scans).toEqual([null]);
      expect(copied).toBe(false);
    } finally {
      thaw(tids);
    }
  });

  it("re-arms a large tracked range on two threads, and still copies its written pages in address order", async () => {
    const target = await startTarget("pages");
    const big = BigInt((await target.command("big 128")).split(" ")[1]!);
    const pages = 128n * 256n; // above the size from which the scan is split
    let tids = freeze(target.pid);
    registerWriteTracking(tids[0]!, new BigUint64Array([big, big + pages * PAGE]), false);
    // the first page, the pages either side of the cut, the last
    const written = [0n, pages / 2n - 1n, pages / 2n, pages - 1n].map((n) => big + n * PAGE);
    written.forEach((at, i) => writeMemory(target.pid, at, Buffer.alloc(16, 0x30 + i)));
    const member = { pid: target.pid, armed: new BigUint64Array([big, big + pages * PAGE]), unarmed: new BigUint64Array(0), extra: new BigUint64Array(0), copyAtMost: 100 };
    const into = Buffer.alloc(8 * Number(PAGE));
    const { copied, bytes } = secureWritten([member], MASK, into, tids);
    expect(copied).toBe(true);
    expect(bytes).toEqual([4 * Number(PAGE)]);
    expect(written.map((_, i) => into[i * Number(PAGE)]), "each written page in its place").toEqual([0x30, 0x31, 0x32, 0x33]);
    tids = freeze(target.pid);
    try {
      const again = secureWritten([member], MASK, into, tids);
      expect(again.scans[0]![0].length, "every half re-armed").toBe(0);
      expect(again.copied).toBe(true);
    } finally {
      thaw(tids);
    }
  }, 60_000);
});

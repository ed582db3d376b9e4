import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { freeze, FROZEN_COPY_NAME, PAGE_SIZE, readMemory, registerWriteTracking, thaw } from "@cr/native";
import { killHolders, pythonHolder } from "./python.test-util.js";
import { forkBreakEven, securePages } from "./secure-pages.js";
import { collectVmas } from "./vmas.js";
import type { PageRun } from "../pages.js";
import { OwnScan } from "../trackers/write-protect.js";

afterEach(killHolders);

const PAGES = 4;

/** python3 with 4 pages each of private, shared and MADV_DONTFORK memory, each page a letter of its own from 'a' on; SIGUSR1 writes 'z' over all of them. */
const THREE_KINDS = [
  "import ctypes, mmap, signal",
  `private = mmap.mmap(-1, ${PAGES * PAGE_SIZE}, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)`,
  `shared = mmap.mmap(-1, ${PAGES * PAGE_SIZE})`,
  `dontfork = mmap.mmap(-1, ${PAGES * PAGE_SIZE}, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)`,
  "dontfork.madvise(mmap.MADV_DONTFORK)",
  "regions = [private, shared, dontfork]",
  `for r, m in enumerate(regions): m.write(b''.join(bytes([97 + r * ${PAGES} + p]) * ${PAGE_SIZE} for p in range(${PAGES})))`,
  "def rewrite(signum, frame):",
  `    for m in regions: m.seek(0); m.write(b'z' * ${PAGES * PAGE_SIZE})`,
  "signal.signal(signal.SIGUSR1, rewrite)",
  "fds = [ctypes.addressof(ctypes.c_char.from_buffer(m)) for m in regions]",
].join("\n");

/** The live frozen copies this process holds (it traces them). */
function heldCopies(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const status = readFileSync(`/proc/${name}/status`, "utf8");
        return status.includes(`Name:\t${FROZEN_COPY_NAME}\n`) && status.includes(`TracerPid:\t${process.pid}\n`) && !/State:\tZ/.test(status);
      } catch {
        return false; // exited while /proc was listed
      }
    })
    .map(Number);
}

/** The write-protect tracker's scan of [start, start + pages) of `pid`, left pending (DirtyResult.pendingScan). */
function pendingScan(pid: number, start: bigint, pages: number): OwnScan {
  return new OwnScan(pid, [{ start, pages }], new BigUint64Array([start, start + BigInt(pages * PAGE_SIZE)]), new BigUint64Array(0), true);
}

function traced(pid: number): boolean {
  return !readFileSync(`/proc/${pid}/status`, "utf8").includes("TracerPid:\t0\n");
}

/** The children of `pid`, zombies included. */
function childrenOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean);
}

function firstByte(pid: number, address: bigint): number {
  const out = Buffer.alloc(1);
  readMemory(pid, new BigUint64Array([address, 1n]), out);
  return out[0]!;
}

describe("securePages", () => {
  it("keeps every page as it was at the freeze when a frozen copy holds them and the process writes them all after the thaw", async () => {
    const { child, fds } = await pythonHolder(THREE_KINDS);
    const pid = child.pid!;
    const [privateAt, sharedAt, dontforkAt] = (fds as unknown as number[]).map(BigInt) as [bigint, bigint, bigint];
    const regions = [privateAt, sharedAt, dontforkAt];
    // A run a page: a block's runs cut where the kept (shared, DONTFORK) ones begin and end.
    const data: PageRun[] = regions.flatMap((at) => Array.from({ length: PAGES }, (_, p) => ({ start: at + BigInt(p * PAGE_SIZE), pages: 1 }))).sort((a, b) => (a.start < b.start ? -1 : 1));
    const letter = ({ start }: PageRun) => {
      const r = regions.findIndex((at) => start >= at && start < at + BigInt(PAGES * PAGE_SIZE));
      return 0x61 + r * PAGES + Number((start - regions[r]!) / BigInt(PAGE_SIZE));
    };
    const tids = freeze(pid);
    let secured;
    try {
      secured = securePages([{ pid, leader: tids[0]!, vmas: collectVmas(pid), data: () => data, forkable: true }], undefined, false, "fork", tids);
    } finally {
      thaw(tids);
    }
    try {
      expect(secured.frozenCopies).toBe(1);
      expect(heldCopies()).toHaveLength(1);
      expect(childrenOf(pid), "the copy is no child of the process, and its go-between was reaped").toEqual([]);
      child.kill("SIGUSR1");
      for (let i = 0; i < 200 && regions.some((a) => firstByte(pid, a) !== 0x7a); i++) await sleep(10);
      expect(regions.map((a) => firstByte(pid, a)), "the process wrote every page").toEqual([0x7a, 0x7a, 0x7a]);
      const saved = await secured.sources[0]!(data, 0, Buffer.alloc(3 * PAGES * PAGE_SIZE));
      const frozen = Buffer.concat(data.map((run) => Buffer.alloc(PAGE_SIZE, letter(run))));
      expect(saved.equals(frozen), "each page as it was at the freeze, in its place").toBe(true);
    } finally {
      await secured.release();
    }
    expect(heldCopies(), "the copy is dead").toEqual([]);
    expect(child.exitCode, "the process runs on").toBeNull();
  });

  it("forks by cost: a few changed pages are copied, many are left in a frozen copy", async () => {
    const { child, fds } = await pythonHolder(["import ctypes, mmap", `m = mmap.mmap(-1, ${4096 * PAGE_SIZE}, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)`, `m.write(b'x' * ${4096 * PAGE_SIZE})`, "fds = [ctypes.addressof(ctypes.c_char.from_buffer(m))]"].join("\n"));
    const pid = child.pid!;
    const start = BigInt((fds as unknown as number[])[0]!);
    const vmas = collectVmas(pid);
    const breakEven = forkBreakEven(vmas);
    expect(breakEven, "16 MiB resident: forking pays from a few thousand pages").toBeLessThan(4096);
    const secure = async (pages: number, keepFrozen: boolean, forkable = true) => {
      const tids = freeze(pid);
      let secured;
      try {
        secured = securePages([{ pid, leader: tids[0]!, vmas, data: () => [{ start, pages }], forkable }], undefined, keepFrozen, "auto", tids);
      } finally {
        thaw(tids);
      }
      await secured.release(); // once thawed
      return secured.frozenCopies;
    };
    expect(await secure(64, false), "64 pages changed: copied").toBe(0);
    expect(await secure(4096, false), "4096 pages changed: forked").toBe(1);
    expect(await secure(4096, true), "a tree that stays frozen (--kill) is not forked").toBe(0);
    expect(await secure(4096, false, false), "a member whose copy would be an orphan of the tree is not forked").toBe(0);
    expect(heldCopies(), "every copy is dead").toEqual([]);
    expect(childrenOf(pid), "nothing is left in the process").toEqual([]);
  });

  it("with the tracker's scan left pending: a few written pages are scanned, copied and thawed in one call; many are forked, the scan run, the tree frozen until then", async () => {
    const pages = 4096;
    const { child, fds } = await pythonHolder([
      "import ctypes, mmap, signal",
      `m = mmap.mmap(-1, ${pages * PAGE_SIZE}, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)`,
      `m.write(b'x' * ${pages * PAGE_SIZE})`,
      `signal.signal(signal.SIGUSR1, lambda s, f: (m.seek(0), m.write(b'y' * ${8 * PAGE_SIZE})))`,
      `signal.signal(signal.SIGUSR2, lambda s, f: (m.seek(0), m.write(b'z' * ${pages * PAGE_SIZE})))`,
      "fds = [ctypes.addressof(ctypes.c_char.from_buffer(m))]",
    ].join("\n"));
    const pid = child.pid!;
    const start = BigInt((fds as unknown as number[])[0]!);
    const last = start + BigInt((pages - 1) * PAGE_SIZE);
    let tids = freeze(pid);
    registerWriteTracking(tids[0]!, new BigUint64Array([start, start + BigInt(pages * PAGE_SIZE)]), false);
    thaw(tids);
    const secure = (written: number) => {
      tids = freeze(pid);
      const member = { pid, leader: tids[0]!, vmas: collectVmas(pid), data: () => [{ start, pages: written }], forkable: true, pending: { scan: pendingScan(pid, start, pages), unscanned: () => ({ data: [], file: [] }) } };
      return { member, secured: securePages([member], Buffer.alloc(64 * PAGE_SIZE), false, "auto", tids) };
    };

    child.kill("SIGUSR1");
    for (let i = 0; i < 200 && firstByte(pid, start) !== 0x79; i++) await sleep(10);
    const few = secure(8);
    expect(few.secured.thawed, "copied and thawed in the call").toBe(true);
    expect(traced(pid)).toBe(false);
    few.secured.confirmPlans();
    const saved = await few.secured.sources[0]!([{ start, pages: 8 }], 0, Buffer.alloc(8 * PAGE_SIZE));
    expect(saved.equals(Buffer.alloc(8 * PAGE_SIZE, "y"))).toBe(true);

    child.kill("SIGUSR2");
    for (let i = 0; i < 200 && firstByte(pid, last) !== 0x7a; i++) await sleep(10);
    const many = secure(pages);
    try {
      expect(many.secured.thawed, "beyond the fork's break-even").toBe(false);
      expect(traced(pid), "frozen until the caller thaws").toBe(true);
      expect(many.member.pending.scan.settled, "the scan ran, and re-armed").toBe(true);
      expect(many.secured.frozenCopies).toBe(1);
    } finally {
      thaw(tids);
      await many.secured.release();
    }
    expect(child.exitCode, "the process runs on").toBeNull();
  });
});

import { afterEach, describe, expect, it } from "vitest";

import { closeSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dropFrozenCopy, forkFrozenCopy, freeze, injectSyscall, NativeError, openFillUffd, readMemory, readMemoryRanges, thaw, writeMemory, writeMemoryRanges } from "./index.js";
import { expectProgress, killTargets, startTarget } from "./test-support/programs.js";

afterEach(killTargets);

const PAGE = 4096;
const SYS_MPROTECT = 10;

async function pagesTarget() {
  const target = await startTarget("pages");
  const [, area, readonly] = target.lines[0]!.split(" ");
  return { target, area: BigInt(area!), readonly: BigInt(readonly!) };
}

// The pattern pages.c writes: page i, byte j = (i * 7 + j) & 0xff.
function expectedPage(i: number): Buffer {
  return Buffer.from(Array.from({ length: PAGE }, (_, j) => (i * 7 + j) & 0xff));
}

function pageRanges(area: bigint, pages: number[]): BigUint64Array {
  return new BigUint64Array(pages.flatMap((i) => [area + BigInt(i * PAGE), BigInt(PAGE)]));
}

describe("readMemory and writeMemory", () => {
  it("returns the bytes the target wrote, for adjacent and scattered ranges", async () => {
    const { target, area } = await pagesTarget();
    const pages = [0, 1, 2, 3, 5, 9, 10, 31];
    for (const unpinned of [false, true]) {
      const into = Buffer.alloc(pages.length * PAGE);
      expect(readMemory(target.pid, pageRanges(area, pages), into, unpinned)).toBe(pages.length * PAGE);
      pages.forEach((page, k) => expect(into.subarray(k * PAGE, (k + 1) * PAGE), `unpinned: ${unpinned}`).toEqual(expectedPage(page)));
    }
  });

  it("reads a frozen copy's pages unpinned without the kernel copying them into the copy, where a pinned read does", async () => {
    const { target } = await pagesTarget();
    const big = BigInt((await target.command("big 64")).split(" ")[1]!);
    const privateMiB = (pid: number) => Number(/Private_Dirty:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))![1]) >> 10;
    const copyAndRead = async (unpinned: boolean) => {
      const tids = freeze(target.pid);
      const copy = forkFrozenCopy(tids[0]!).pid;
      thaw(tids);
      try {
        const before = privateMiB(copy);
        readMemory(copy, new BigUint64Array([big, 64n << 20n]), Buffer.alloc(64 << 20), unpinned);
        return privateMiB(copy) - before;
      } finally {
        await dropFrozenCopy(copy);
      }
    };
    expect(await copyAndRead(true), "MiB the copy came to own").toBeLessThan(4);
    expect(await copyAndRead(false), "a read pin unshares (Linux >= 5.19)").toBeGreaterThanOrEqual(60);
  });

  it("reads on the thread pool (readMemoryRanges), pinned or not, and rejects naming the first address it could not read", async () => {
    const { target, area } = await pagesTarget();
    const pages = [1, 4, 5, 30];
    for (const unpinned of [false, true]) {
      const into = Buffer.alloc(pages.length * PAGE);
      await expect(readMemoryRanges(target.pid, pageRanges(area, pages), into, unpinned)).resolves.toBe(pages.length * PAGE);
      pages.forEach((page, k) => expect(into.subarray(k * PAGE, (k + 1) * PAGE)).toEqual(expectedPage(page)));
      const ranges = new BigUint64Array([area, BigInt(PAGE), 0x10000n, BigInt(PAGE)]);
      await expect(readMemoryRanges(target.pid, ranges, Buffer.alloc(2 * PAGE), unpinned)).rejects.toMatchObject({ code: "EFAULT", address: 0x10000n });
    }
  });

  it("names the first address it could not read unpinned", async () => {
    const { target, area } = await pagesTarget();
    const ranges = new BigUint64Array([area, BigInt(PAGE), 0x10000n, BigInt(PAGE)]);
    expect(() => readMemory(target.pid, ranges, Buffer.alloc(2 * PAGE), true)).toThrow(
      expect.objectContaining({ code: "EFAULT", syscall: "pread(/proc/PID/mem)", pid: target.pid, address: 0x10000n }),
    );
  });

  it("names the first address that could not be read", async () => {
    const { target, area } = await pagesTarget();
    const unmapped = 0x10000n; // below mmap_min_addr: never mapped
    const ranges = new BigUint64Array([area, BigInt(PAGE), unmapped, BigInt(PAGE)]);
    const error = (() => {
      try {
        readMemory(target.pid, ranges, Buffer.alloc(2 * PAGE));
      } catch (e) {
        return e as NativeError;
      }
    })();
    expect(error).toBeInstanceOf(NativeError);
    expect(error).toMatchObject({ code: "EFAULT", syscall: "process_vm_readv", pid: target.pid, address: unmapped });
    expect(error!.message).toMatch(/process_vm_readv pid \d+ address 0x10000: Bad address \(EFAULT\)/);
  });

  it("reads present pages the target itself cannot read (PROT_NONE, write-only) among readable ones", async () => {
    const { target, area } = await pagesTarget();
    const tids = freeze(target.pid);
    try {
      expect(injectSyscall(tids[0]!, SYS_MPROTECT, [area + BigInt(2 * PAGE), BigInt(PAGE), 0n])).toBe(0n);
      expect(injectSyscall(tids[0]!, SYS_MPROTECT, [area + BigInt(5 * PAGE), BigInt(2 * PAGE), 2n])).toBe(0n);
      const pages = [0, 1, 2, 3, 5, 6, 8];
      const into = Buffer.alloc(pages.length * PAGE);
      // Before: process_vm_readv pid N address ...: Bad address (EFAULT)
      expect(readMemory(target.pid, pageRanges(area, pages), into)).toBe(pages.length * PAGE);
      pages.forEach((page, k) => expect(into.subarray(k * PAGE, (k + 1) * PAGE)).toEqual(expectedPage(page)));
    } finally {
      thaw(tids);
    }
  });

  it("writes into a read-only page (through /proc/PID/mem) and into writable memory", async () => {
    const { target, area, readonly } = await pagesTarget();
    writeMemory(target.pid, readonly + 8n, Buffer.from("read-only"));
    writeMemory(target.pid, area + 8n, Buffer.from("writable"));
    const into = Buffer.alloc(17);
    readMemory(target.pid, new BigUint64Array([readonly + 8n, 9n, area + 8n, 8n]), into);
    expect(into.toString()).toBe("read-onlywritable");
  });

  it("reads 256 MiB quickly, as one range and as 65536 scattered pages", async () => {
    const { target } = await pagesTarget();
    const big = BigInt((await target.command("big 256")).split(" ")[1]!);
    const pages = 65536;
    const into = Buffer.alloc(pages * PAGE, 0xff); // touched first: our own page faults stay out of the timing
    let t = performance.now();
    expect(readMemory(target.pid, new BigUint64Array([big, BigInt(pages * PAGE)]), into)).toBe(pages * PAGE);
    const contiguous = performance.now() - t;
    // Even pages, then odd pages: no two ranges adjacent, so one iovec per page.
    const order = Array.from({ length: pages }, (_, k) => (2 * k) % pages + (k >= pages / 2 ? 1 : 0));
    t = performance.now();
    expect(readMemory(target.pid, pageRanges(big, order), into)).toBe(pages * PAGE);
    const scattered = performance.now() - t;
    // pages.c marks each page's first byte with (page index | 1).
    for (const k of [0, 1, 12345, pages / 2, pages - 1]) expect(into[k * PAGE]).toBe((order[k]! & 0xff) | 1);
    const rate = (ms: number) => ((pages * PAGE) / 1e6 / ms).toFixed(2);
    console.log(`readMemory 256 MiB: one range ${contiguous.toFixed(1)} ms (${rate(contiguous)} GB/s), 65536 scattered pages ${scattered.toFixed(1)} ms (${rate(scattered)} GB/s)`);
  });
});

describe("writeMemoryRanges", () => {
  it("writes back to back bytes to scattered ranges on the thread pool, and resolves with their length", async () => {
    const { target, area } = await pagesTarget();
    const pages = [3, 4, 7, 20];
    const data = Buffer.concat(pages.map((_, k) => Buffer.alloc(PAGE, 0xa0 + k)));
    await expect(writeMemoryRanges(target.pid, pageRanges(area, pages), data)).resolves.toBe(pages.length * PAGE);
    const into = Buffer.alloc(data.length);
    readMemory(target.pid, pageRanges(area, pages), into);
    expect(into).toEqual(data);
    const untouched = Buffer.alloc(PAGE);
    readMemory(target.pid, pageRanges(area, [5]), untouched);
    expect(untouched).toEqual(expectedPage(5));
  });

  it("gathers its copies into the data first, on the pool, and refuses a copy outside source or data", async () => {
    const { target, area } = await pagesTarget();
    const pages = [2, 9, 10];
    const source = Buffer.concat([0xb1, 0xb2, 0xb3, 0xb4].map((v) => Buffer.alloc(PAGE, v)));
    const data = Buffer.alloc(pages.length * PAGE, 0xee);
    // Source pages 3 and 0..1 into data pages 0 and 1..2; data keeps nothing of its own.
    const copies = new Float64Array([3 * PAGE, 0, PAGE, 0, PAGE, 2 * PAGE]);
    await expect(writeMemoryRanges(target.pid, pageRanges(area, pages), data, undefined, { source, copies })).resolves.toBe(data.length);
    const into = Buffer.alloc(data.length);
    readMemory(target.pid, pageRanges(area, pages), into);
    expect(into).toEqual(Buffer.concat([source.subarray(3 * PAGE), source.subarray(0, 2 * PAGE)]));
    const outside = new Float64Array([3 * PAGE, 0, 2 * PAGE]);
    expect(() => writeMemoryRanges(target.pid, pageRanges(area, pages), data, undefined, { source, copies: outside })).toThrow(TypeError);
  });

  it("rejects with the first address it could not write", async () => {
    const { target, area } = await pagesTarget();
    const unmapped = 0x10000n;
    const ranges = new BigUint64Array([area, BigInt(PAGE), unmapped, BigInt(PAGE)]);
    const failure = writeMemoryRanges(target.pid, ranges, Buffer.alloc(2 * PAGE));
    await expect(failure).rejects.toBeInstanceOf(NativeError);
    await expect(failure).rejects.toMatchObject({ code: "EFAULT", syscall: "process_vm_writev", pid: target.pid, address: unmapped });
  });
});

describe("writeMemoryRanges with a fill uffd", () => {
  const SYS_MMAP = 9;
  const uffds = (pid: number) => readdirSync(`/proc/${pid}/fd`).filter((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:[userfaultfd]");

  it("places pages of the registered range by UFFDIO_COPY, one already there and those past it by process_vm_writev, and the target runs on", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tids = freeze(target.pid);
    // 9 fresh pages; the fill registers the first 8, and page 2 is made present first.
    const area = injectSyscall(tids[0]!, SYS_MMAP, [0n, BigInt(9 * PAGE), 3n, 0x22n, 0xffffffffffffffffn, 0n]);
    writeMemory(target.pid, area + BigInt(2 * PAGE), Buffer.alloc(PAGE, 1));
    const fill = openFillUffd(tids[0]!, new BigUint64Array([area, area + BigInt(8 * PAGE)]));
    expect(fill.registered).toEqual(new BigUint64Array([area, area + BigInt(8 * PAGE)]));
    expect(uffds(target.pid), "the target keeps no descriptor of it").toEqual([]);
    const pages = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const data = Buffer.concat(pages.map((i) => Buffer.alloc(PAGE, 0x40 + i)));
    try {
      await expect(writeMemoryRanges(target.pid, pageRanges(area, pages), data, fill)).resolves.toBe(data.length);
    } finally {
      closeSync(fill.fd);
    }
    const into = Buffer.alloc(data.length);
    readMemory(target.pid, pageRanges(area, pages), into);
    expect(into).toEqual(data);
    thaw(tids);
    await expectProgress(target);
    expect(target.failures()).toEqual([]);
  });
});

import { readFileSync, readlinkSync, readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";

import { freeze, PAGE_IS_PRESENT, PAGE_IS_WRITTEN, pagemapScan, pagemapScanRanges, pagemapScanRangesAsync, readPagemap, registerWriteTracking, thaw } from "./index.js";
import { killTargets, startTarget, type Target } from "./test-support/programs.js";

afterEach(killTargets);

const PAGE = 4096n;
const AREA_PAGES = 64n;
const PRESENT = 1n << 63n;

async function pagesTarget() {
  const target = await startTarget("pages");
  return { target, area: BigInt(target.lines[0]!.split(" ")[1]!) };
}

function track(target: Target, start: bigint, end: bigint) {
  const tids = freeze(target.pid);
  try {
    const registered = readFileSync(`/proc/${target.pid}/smaps`, "utf8").split("\n").some((l) => l.startsWith("VmFlags:") && l.split(" ").includes("uw"));
    return registerWriteTracking(tids[0]!, new BigUint64Array([start, end]), registered);
  } finally {
    thaw(tids);
  }
}

/** Page numbers (relative to `area`) that a write-protecting scan reports as written. */
function writtenPages(pid: number, area: bigint, end = area + AREA_PAGES * PAGE): number[] {
  const regions = pagemapScan(pid, area, end, { writeProtect: true, categories: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN });
  const pages: number[] = [];
  for (let i = 0; i < regions.length; i += 3) {
    for (let p = regions[i]!; p < regions[i + 1]!; p += PAGE) pages.push(Number((p - area) / PAGE));
  }
  return pages;
}

function vmFlags(pid: number, start: bigint): string {
  const smaps = readFileSync(`/proc/${pid}/smaps`, "utf8");
  const at = smaps.indexOf(start.toString(16) + "-");
  return smaps.slice(at).match(/^VmFlags:(.*)$/m)![1]!;
}

function uffdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:[userfaultfd]").length;
}

describe("pagemap", () => {
  it("readPagemap shows the touched half of the area present and the other half not", async () => {
    const { target, area } = await pagesTarget();
    const entries = readPagemap(target.pid, area, area + AREA_PAGES * PAGE);
    expect(entries.length).toBe(64);
    const present = [...entries].map((e) => (e & PRESENT) !== 0n);
    expect(present).toEqual(Array.from({ length: 64 }, (_, i) => i < 32));
  });

  it("pagemapScan without write-protect reports present pages as one run", async () => {
    const { target, area } = await pagesTarget();
    const regions = pagemapScan(target.pid, area, area + AREA_PAGES * PAGE, { writeProtect: false, categories: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT });
    expect([...regions]).toEqual([area, area + 32n * PAGE, BigInt(PAGE_IS_PRESENT)]);
  });

  it("pagemapScanRangesAsync answers on the thread pool what pagemapScanRanges does, and rejects a process that is gone", async () => {
    const { target, area } = await pagesTarget();
    const opts = { writeProtect: false, categories: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT };
    const ranges = new BigUint64Array([area + 20n * PAGE, area + 24n * PAGE, area + 30n * PAGE, area + AREA_PAGES * PAGE]);
    await expect(pagemapScanRangesAsync(target.pid, ranges, opts)).resolves.toEqual(pagemapScanRanges(target.pid, ranges, opts));
    await expect(pagemapScanRangesAsync(2 ** 22 + 1, ranges, opts)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("pagemapScanRanges answers for several ranges, in their order, what a pagemapScan of each does", async () => {
    const { target, area } = await pagesTarget();
    const opts = { writeProtect: false, categories: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT };
    const ranges: [bigint, bigint][] = [
      [area + 40n * PAGE, area + 64n * PAGE], // nothing present
      [area + 20n * PAGE, area + 36n * PAGE], // the present pages' end
      [area, area + 4n * PAGE],
    ];
    const one = ranges.flatMap(([start, end]) => [...pagemapScan(target.pid, start, end, opts)]);
    expect(one).toEqual([area + 20n * PAGE, area + 32n * PAGE, BigInt(PAGE_IS_PRESENT), area, area + 4n * PAGE, BigInt(PAGE_IS_PRESENT)]);
    expect([...pagemapScanRanges(target.pid, new BigUint64Array(ranges.flat()), opts)]).toEqual(one);
    expect(() => pagemapScanRanges(target.pid, new BigUint64Array([area, area + 1n]), opts)).toThrow(TypeError);
  });
});

describe("write tracking (userfaultfd WP_ASYNC + PAGEMAP_SCAN)", () => {
  it("registers in the target at a high fd, once, and marks the VMA uffd-wp", async () => {
    const { target, area } = await pagesTarget();
    const first = track(target, area, area + AREA_PAGES * PAGE);
    expect([...first.registered]).toEqual([area, area + AREA_PAGES * PAGE]);
    expect(first.fd).toBeGreaterThan(1000);
    expect(readlinkSync(`/proc/${target.pid}/fd/${first.fd}`)).toBe("anon_inode:[userfaultfd]");
    expect(vmFlags(target.pid, area).split(" ")).toContain("uw");
    const second = track(target, area, area + AREA_PAGES * PAGE);
    expect(second.fd).toBe(first.fd);
    expect(uffdCount(target.pid)).toBe(1);
  });

  it("reports exactly the pages written after registration: by the program, the kernel, a second thread, and never-touched pages", async () => {
    const { target, area } = await pagesTarget();
    track(target, area, area + AREA_PAGES * PAGE);
    expect(writtenPages(target.pid, area)).toEqual([]);
    await target.command("w 2"); // the program writes
    await target.command("r 9"); // read(2) writes: the kernel's copy_to_user
    await target.command("t 20"); // another thread writes
    await target.command("w 45"); // a page never touched before (WP_UNPOPULATED)
    expect(writtenPages(target.pid, area)).toEqual([2, 9, 20, 45]);
    expect(writtenPages(target.pid, area)).toEqual([]); // the scan re-armed them
    await target.command("w 2");
    expect(writtenPages(target.pid, area)).toEqual([2]);
  });

  it("skips ranges the kernel refuses and reports only those registered", async () => {
    const { target, area } = await pagesTarget();
    const vdso = readFileSync(`/proc/${target.pid}/maps`, "utf8").split("\n").find((l) => l.endsWith("[vdso]"))!;
    const [start, end] = vdso.split(" ")[0]!.split("-").map((h) => BigInt("0x" + h));
    const tids = freeze(target.pid);
    const { registered } = registerWriteTracking(tids[0]!, new BigUint64Array([start!, end!, area, area + AREA_PAGES * PAGE]), false);
    thaw(tids);
    expect([...registered]).toEqual([area, area + AREA_PAGES * PAGE]);
  });

  // How fast: `pnpm bench` (machine: PAGEMAP_SCAN re-protecting 1% of 1 GiB).
  it("scans 1 GiB of tracked, untouched memory and reports nothing written", async () => {
    const { target } = await pagesTarget();
    const big = BigInt((await target.command("big 1024")).split(" ")[1]!);
    const end = big + (1n << 30n);
    track(target, big, end);
    const regions = pagemapScan(target.pid, big, end, { writeProtect: true, categories: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN });
    expect(regions.length).toBe(0);
  }, 120_000); // a hang guard: faulting 1 GiB in takes the target many seconds on a loaded machine
});

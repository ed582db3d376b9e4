import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PAGE_SIZE } from "@cr/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { type FileRun, hasSavedPages, planPages, savedRuns, type PagePlan } from "./memory.js";
import { intersectRuns, runEnd, type PageRun } from "../pages.js";
import { collectVmas, type Vma } from "./vmas.js";

/** Layouts checked: each is a fresh random arrangement of the target's arena (layout_target.c). */
const LAYOUTS = Number(process.env.LAYOUTS ?? 10_000);

let dir: string;
/** Two targets take turns: one builds its next layout while the other's is checked. */
const targets: { target: Target; pagemap: number }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cr-plan-"));
  const file = join(dir, "mapped.bin");
  writeFileSync(file, Buffer.alloc(64 * PAGE_SIZE, 0x6b));
  const bin = program("layout_target");
  for (let i = 0; i < 2; i++) {
    const target = await startTarget(bin, [file]);
    targets.push({ target, pagemap: openSync(`/proc/${target.pid}/pagemap`, "r") });
  }
});
afterAll(async () => {
  for (const { target, pagemap } of targets) {
    closeSync(pagemap);
    await target.stop();
  }
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

/** Saved pages as runs of one kind ("file@OFFSET" for FILE pages: the offset of the run's first page). */
interface SavedRun {
  first: number;
  pages: number;
  kind: string;
}

/** Adds `pages` pages from `first` to runs that ascend, extending the last run where they continue it. */
function addRun(runs: SavedRun[], first: number, pages: number, kind: "data" | "zero" | "file", fileOffset = 0n): void {
  const last = runs[runs.length - 1];
  const continues = last !== undefined && last.first + last.pages === first;
  const name = kind === "file" ? `file@${fileOffset}` : kind;
  if (continues && (kind === "file" ? last.kind === `file@${fileOffset - BigInt(last.pages * PAGE_SIZE)}` : last.kind === kind)) last.pages += pages;
  else runs.push({ first, pages, kind: name });
}

/** The plan as one list of runs; fails on runs that are out of order or overlap (the image writer refuses them). */
function planRuns(plan: PagePlan, layout: number): SavedRun[] {
  const all: { run: PageRun; kind: "data" | "zero" | "file"; offset: bigint }[] = [];
  for (const [kind, runs] of [["data", plan.data], ["file", plan.file]] as const) {
    let end = 0n;
    for (const run of runs) {
      if (run.start < end || run.pages <= 0) throw new Error(`layout ${layout}: ${kind} runs out of order or overlapping at 0x${run.start.toString(16)}`);
      end = runEnd(run);
      all.push({ run, kind, offset: kind === "file" ? (run as FileRun).fileOffset : 0n });
    }
  }
  all.sort((a, b) => (a.run.start < b.run.start ? -1 : 1));
  const out: SavedRun[] = [];
  let end = 0n;
  for (const { run, kind, offset } of all) {
    if (run.start < end) throw new Error(`layout ${layout}: page 0x${run.start.toString(16)} is saved twice`);
    end = runEnd(run);
    addRun(out, Number(run.start) / PAGE_SIZE, run.pages, kind, offset);
  }
  return out;
}

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst): present, swapped, file-page or
// shared-anon; a swap entry of type 31 is a marker (uffd-wp on an empty page), which holds nothing.
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE_PAGE = 1n << 61n;
const MARKER_TYPE = 31n;

/** The model: every page of `scope` in a saved mapping, classified from its own pagemap entry. */
function modelRuns(pagemap: number, vmas: Vma[], scope: PageRun[]): SavedRun[] {
  const out: SavedRun[] = [];
  for (const vma of vmas.filter(hasSavedPages)) {
    for (const part of intersectRuns(scope, [{ start: vma.start, pages: Number((vma.end - vma.start) / BigInt(PAGE_SIZE)) }])) {
      const entries = new BigUint64Array(part.pages);
      readSync(pagemap, new Uint8Array(entries.buffer), 0, entries.byteLength, (Number(part.start) / PAGE_SIZE) * 8);
      entries.forEach((entry, k) => {
        const held = (entry & PRESENT) !== 0n || ((entry & SWAPPED) !== 0n && (entry & 0x1fn) !== MARKER_TYPE);
        if (!held) return;
        const address = part.start + BigInt(k * PAGE_SIZE);
        const page = Number(address) / PAGE_SIZE;
        if (vma.kind === "file" && (entry & FILE_PAGE) !== 0n) addRun(out, page, 1, "file", vma.offset + (address - vma.start));
        else addRun(out, page, 1, "data");
      });
    }
  }
  return out;
}

/** Part of the saved mappings, as an increment's planner is given: random runs of them. */
function randomScope(vmas: Vma[], seed: number): PageRun[] {
  let x = seed | 1;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  const cut: PageRun[] = [];
  for (const run of savedRuns(vmas)) {
    for (let at = 0; at < run.pages; ) {
      const pages = Math.min(run.pages - at, 1 + (next() % 300));
      if (next() % 2) cut.push({ start: run.start + BigInt(at * PAGE_SIZE), pages });
      at += pages;
    }
  }
  return cut;
}

function parseWritten(line: string): number[] {
  expect(line.startsWith("written")).toBe(true);
  return line
    .split(" ")
    .slice(1)
    .flatMap((range) => {
      const [start, end] = range.split("-").map((hex) => parseInt(hex, 16) / PAGE_SIZE) as [number, number];
      return Array.from({ length: end - start }, (_, k) => start + k);
    });
}

/** The kind each page of `pages` is saved as ("nothing" if none). */
function kindsOf(runs: SavedRun[], pages: number[]): string[] {
  let r = 0;
  return pages.map((page) => {
    while (r < runs.length && runs[r]!.first + runs[r]!.pages <= page) r++;
    const run = runs[r];
    return run && run.first <= page ? run.kind : "nothing";
  });
}

describe("planPages over random layouts", () => {
  it(`saves exactly what a page-by-page model of pagemap says, in ascending disjoint runs, for ${LAYOUTS} layouts`, async () => {
    let answer = targets[0]!.target.ask("layout 1");
    for (let seed = 1; seed <= LAYOUTS; seed++) {
      const { target, pagemap } = targets[(seed - 1) % 2]!;
      const written = parseWritten(await answer);
      if (seed < LAYOUTS) answer = targets[seed % 2]!.target.ask(`layout ${seed + 1}`);
      const vmas = collectVmas(target.pid);
      const scope = seed % 3 === 0 ? randomScope(vmas, seed) : savedRuns(vmas);
      const plan = planRuns(planPages(target.pid, vmas, scope), seed);
      expect(plan, `layout ${seed}`).toEqual(modelRuns(pagemap, vmas, scope));
      if (seed % 3 === 0) continue;
      // What the program wrote is saved as data, MADV_DONTDUMP or not.
      const kinds = kindsOf(plan, written);
      const lost = written.filter((_, i) => kinds[i] !== "data");
      expect(lost.map((p) => `0x${p.toString(16)}`).slice(0, 5), `layout ${seed}: written pages not saved`).toEqual([]);
    }
  }, 300_000);
});

import { readMemory, readPagemap } from "@cr/native";
import { PAGE_SIZE, runsToRanges, totalPages, type PageRun } from "./pages.js";
import type { Vma } from "./vmas.js";

/**
 * Memory, checkpoint half: which pages of which mappings an image carries.
 *
 * - anonymous pages that are present or swapped, and the COW'd pages of private file mappings:
 *   their bytes (candidates for DATA; a tracker decides which changed since the parent);
 * - untouched pages of file mappings: FILE (read again from the file at restart);
 * - present pages of MADV_DONTDUMP mappings: ZERO (the program said they are scratch);
 * - never-touched memory: nothing.
 */
export interface FileRun extends PageRun {
  /** Byte offset in the mapped file of the run's first page. */
  fileOffset: bigint;
}

export interface PagePlan {
  candidates: PageRun[];
  file: FileRun[];
  zero: PageRun[];
}

/** Mappings whose contents belong in an image; the kernel's own and cr's trampoline do not. */
export function hasSavedPages(vma: Vma): boolean {
  return !vma.internal && !["vdso", "vvar", "vvar_vclock", "vsyscall"].includes(vma.kind) && !vma.flags.io && !vma.flags.pfnmap;
}

// pagemap entry bits, in the high 32-bit word of each little-endian u64.
const PM_PRESENT = 1 << 31; // bit 63
const PM_SWAPPED = 1 << 30; // bit 62
const PM_FILE = 1 << 29; // bit 61: a page-cache page (not COW'd) or shared anonymous

const enum PageClass {
  None,
  Data,
  File,
  Zero,
}

/** Reads the target's pagemap (frozen target) and sorts every page into the plan. */
export function planPages(pid: number, vmas: Vma[]): PagePlan {
  const plan: PagePlan = { candidates: [], file: [], zero: [] };
  for (const vma of vmas.filter(hasSavedPages)) {
    const words = new Uint32Array(readPagemap(pid, vma.start, vma.end).buffer);
    const isFileMapping = vma.kind === "file";
    let runClass = PageClass.None;
    let runStart = 0;
    const pages = words.length / 2;
    for (let i = 0; i <= pages; i++) {
      const cls = i === pages ? PageClass.None : classify(words[2 * i + 1]!, isFileMapping, vma.flags.dontdump);
      if (cls === runClass) continue;
      if (runClass !== PageClass.None) addRun(plan, vma, runClass, runStart, i - runStart);
      runClass = cls;
      runStart = i;
    }
  }
  return plan;
}

function classify(high: number, isFileMapping: boolean, dontdump: boolean): PageClass {
  if ((high & (PM_PRESENT | PM_SWAPPED)) === 0) return PageClass.None;
  if (dontdump) return PageClass.Zero;
  return isFileMapping && high & PM_FILE ? PageClass.File : PageClass.Data;
}

function addRun(plan: PagePlan, vma: Vma, cls: PageClass, first: number, pages: number): void {
  const start = vma.start + BigInt(first * PAGE_SIZE);
  if (cls === PageClass.Data) plan.candidates.push({ start, pages });
  else if (cls === PageClass.Zero) plan.zero.push({ start, pages });
  else plan.file.push({ start, pages, fileOffset: vma.offset + BigInt(first * PAGE_SIZE) });
}

/** Copies the given pages out of the (frozen) target into one buffer, in run order. */
export function copyPages(pid: number, runs: PageRun[], into?: Buffer): Buffer {
  const bytes = totalPages(runs) * PAGE_SIZE;
  const buffer = into && into.length >= bytes ? into.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
  if (bytes > 0) readMemory(pid, runsToRanges(runs), buffer);
  return buffer;
}

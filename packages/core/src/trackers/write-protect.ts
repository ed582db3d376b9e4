import { alignedBuffer, NativeError, PAGE_IS_PRESENT, PAGE_IS_SWAPPED, PAGE_IS_WRITTEN, pagemapScan, readMemory, registerWriteTracking, scratch } from "@cr/native";
import { hasSavedPages } from "../memory.js";
import { processExists } from "../procfs.js";
import { decodeRuns, encodeRuns, intersectRuns, PAGE_SIZE, pushRun, runEnd, runsToRanges, subtractRuns, totalPages, unionRuns, type PageRun } from "../pages.js";
import { collectVmas, markTrampoline, type Vma } from "../vmas.js";
import { claimedElsewhere, claimHistory, historyBroken, historyCommitted, historySlot, holdsHistory, untrustedReason } from "./history.js";
import type { DirtyResult, DirtyTracker, Rearmed, SavedPages, TrackContext } from "./tracker.js";

/**
 * userfaultfd in WP_ASYNC mode registered in the target's own mm, read with PAGEMAP_SCAN. In a
 * registered mapping a page the scan does not report as written is exactly as the parent saw
 * it: its bytes, and whether it is there at all (MADV_DONTNEED'd pages come back as written). A
 * mapping that was not registered before this snapshot (new, moved by mremap, replaced) is not
 * vouched for, and gets registered now.
 *
 * The frozen scan only reads; the written pages are write-protected again after the thaw
 * (rearm), because re-protecting pages under this VM's shadow paging costs ~2-10 us each. A
 * page written between the thaw and the re-arm is then either still equal to the bytes the
 * image saved (so the image holds it as it is) or is carried, in the image's TRACKER record, to
 * count as written at the next snapshot. The history slot's claim keeps any other snapshot of
 * the process from re-arming in between (history.ts).
 */
export class WriteProtectTracker implements DirtyTracker {
  readonly name = "write-protect" as const;

  collectDirty(context: TrackContext): DirtyResult {
    const { pid, slot } = context;
    const busy = claimedElsewhere(pid, slot);
    if (busy) return { unchanged: [], allDirtyReason: busy, rearm: () => ({ brokenReason: busy }) };
    const untrusted = untrustedReason(pid, slot, context.parent);
    claimHistory(pid, slot);
    try {
      // Registering injects syscalls: done before anything re-protects (see checkpointFrozen).
      const fresh = context.vmas.filter((v) => !v.flags.uffdWp && isTrackable(v));
      if (fresh.length > 0) registerWriteTracking(context.tid, vmaRanges(fresh));
      const registered = context.vmas.filter((v) => v.flags.uffdWp);
      const later = { rearm: (copy: SavedPages | null) => rearm(pid, slot, registered, copy), release: () => releaseHistory(pid, slot) };
      return { ...readDirty(context, untrusted), ...later };
    } catch (error) {
      historyBroken(pid, slot); // nothing of this snapshot will commit
      throw error;
    }
  }

  committed(context: TrackContext, identity: bigint): void {
    historyCommitted(context.pid, context.slot, identity);
  }

  preview(context: Omit<TrackContext, "tid" | "slot">): DirtyResult {
    return readDirty(context, undefined);
  }
}

/** What the registered mappings' written pages (read, not re-armed) and the parent's carried ones say. */
function readDirty(context: Omit<TrackContext, "tid" | "slot">, untrusted: string | undefined): DirtyResult {
  const registered = context.vmas.filter((v) => v.flags.uffdWp);
  const written = scanWritten(context.pid, registered, false);
  if (untrusted) return { unchanged: [], allDirtyReason: untrusted };
  if (!written) return { unchanged: [], allDirtyReason: "a mapping lost its write tracking (the program closed cr's userfaultfd)" };
  const tracked: PageRun[] = [];
  for (const v of registered.filter(isTrackable)) pushRun(tracked, v.start, Number((v.end - v.start) / BigInt(PAGE_SIZE)));
  // Written after the parent's thaw, before its re-arm: not in this scan, changed all the same.
  const carried = context.parent?.state ? (decodeRuns(context.parent.state)?.runs ?? tracked) : [];
  // A written page that is present is the process's own copy (COW'd if the mapping is a file's).
  const scope = intersectRuns(written.all, tracked);
  return { unchanged: subtractRuns(subtractRuns(tracked, written.all), carried), seen: { scope, data: intersectRuns(written.present, tracked) } };
}

/**
 * Write-protects the registered mappings' written pages again, unless another snapshot took the
 * claim meanwhile. Pages written since the frozen scan are carried to the next snapshot unless
 * they still hold the bytes the image saved; without `copy` the target is still frozen and
 * nothing was written since.
 */
function rearm(pid: number, slot: bigint, registered: Vma[], copy: SavedPages | null): Rearmed {
  if (!holdsHistory(pid, slot)) return { brokenReason: "another snapshot took the tracker's history before this one re-armed it" };
  // The claim stays until the image is committed (or released): nobody re-arms in between.
  const written = scanWritten(pid, registered, true);
  if (!written) return broken(pid, slot, "a mapping lost its write tracking (the program closed cr's userfaultfd)");
  if (!copy) return { state: encodeRuns([]) };
  const held = intersectRuns(written.all, copy.runs);
  const current = alignedBuffer(Math.max(1, totalPages(held)) * PAGE_SIZE);
  try {
    readMemory(pid, runsToRanges(held), current);
  } catch (error) {
    // Unmapped by the running program since the scan: its bytes cannot be compared.
    if (error instanceof NativeError) return broken(pid, slot, `the memory changed under the re-arm (${error.message})`);
    throw error;
  }
  return { state: encodeRuns(unionRuns(subtractRuns(written.all, copy.runs), changedPages(held, current, copy))) };
}

function broken(pid: number, slot: bigint, reason: string): Rearmed {
  historyBroken(pid, slot);
  return { brokenReason: reason };
}

/** A failed snapshot's claim becomes a broken history (the next image is whole). */
function releaseHistory(pid: number, slot: bigint): void {
  if (processExists(pid) && holdsHistory(pid, slot)) historyBroken(pid, slot);
}

/** The pages of `held` (read into `current`, in run order) whose bytes differ from the copy's. */
function changedPages(held: PageRun[], current: Buffer, copy: SavedPages): PageRun[] {
  const changed: PageRun[] = [];
  let at = 0; // page index in `current`
  let run = 0; // the copy run at or before the page, and its first page index in copy.bytes
  let base = 0;
  for (const { start, pages } of held) {
    for (let p = 0; p < pages; p++, at++) {
      const address = start + BigInt(p * PAGE_SIZE);
      while (runEnd(copy.runs[run]!) <= address) base += copy.runs[run++]!.pages;
      const saved = base + Number((address - copy.runs[run]!.start) / BigInt(PAGE_SIZE));
      const now = current.subarray(at * PAGE_SIZE, (at + 1) * PAGE_SIZE);
      if (!now.equals(copy.bytes.subarray(saved * PAGE_SIZE, (saved + 1) * PAGE_SIZE))) pushRun(changed, address, 1);
    }
  }
  return changed;
}

/**
 * Written pages of the registered mappings; with `rearm` the scan write-protects them again.
 * The scan fails with EPERM (PM_SCAN_CHECK_WPASYNC) rather than skip a mapping that lost its
 * registration, e.g. because the program closed every fd it did not know: then nothing is
 * known (null).
 */
function scanWritten(pid: number, registered: Vma[], rearm: boolean): { all: PageRun[]; present: PageRun[] } | null {
  const all: PageRun[] = [];
  const present: PageRun[] = [];
  const returnMask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
  for (const vma of registered) {
    let triples: BigUint64Array;
    try {
      triples = pagemapScan(pid, vma.start, vma.end, { writeProtect: rearm, categories: PAGE_IS_WRITTEN, categoryMask: PAGE_IS_WRITTEN, returnMask });
    } catch (error) {
      if (error instanceof NativeError && error.code === "EPERM") return null;
      throw error;
    }
    for (let i = 0; i < triples.length; i += 3) {
      const pages = Number((triples[i + 1]! - triples[i]!) / BigInt(PAGE_SIZE));
      pushRun(all, triples[i]!, pages);
      if (Number(triples[i + 2]!) & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)) pushRun(present, triples[i]!, pages);
    }
  }
  return { all, present };
}

/**
 * Private writable memory of the program's own. MADV_DONTDUMP mappings are left out: their
 * pages are saved as ZERO whatever the tracker says.
 */
function isTrackable(vma: Vma): boolean {
  return hasSavedPages(vma) && vma.prot.write && !vma.shared && !vma.flags.dontdump;
}

function vmaRanges(vmas: Vma[]): BigUint64Array {
  const ranges = new BigUint64Array(vmas.length * 2);
  vmas.forEach((v, i) => {
    ranges[2 * i] = v.start;
    ranges[2 * i + 1] = v.end;
  });
  return ranges;
}

// ================================================================ restart half

/**
 * Write tracking, restart half. A restarted process's memory is exactly its image's, so tracking
 * armed before it runs makes its next snapshot an increment of that image instead of a full
 * copy: the image's identity goes into the history slot, as a committed snapshot's would. The
 * process must be stopped, with its mappings and memory in place.
 */
export function armAfterRestart(pid: number, identity: bigint): void {
  const area = scratch(pid);
  const vmas = markTrampoline(collectVmas(pid), area.trampoline).filter(isTrackable);
  // Mappings the kernel refuses to track are left out; the next snapshot saves them whole.
  if (vmas.length > 0) registerWriteTracking(pid, vmaRanges(vmas));
  historyCommitted(pid, historySlot(area), identity);
}

import { PAGE_IS_WRITTEN, pagemapScan, registerWriteTracking } from "@cr/native";
import { intersectRuns, PAGE_SIZE, pushRun, unionRuns, type PageRun } from "../pages.js";
import type { Vma } from "../vmas.js";
import { historyBroken, historyCommitted, untrustedReason } from "./history.js";
import type { DirtyResult, DirtyTracker, TrackContext } from "./tracker.js";

/**
 * userfaultfd in WP_ASYNC mode registered in the target's own mm, read and re-armed atomically
 * with PAGEMAP_SCAN (PM_SCAN_WP_MATCHING). A mapping that was not registered before this
 * snapshot (new, moved by mremap, or replaced) counts as wholly dirty and gets registered now.
 */
export class WriteProtectTracker implements DirtyTracker {
  readonly name = "write-protect" as const;

  collectDirty(context: TrackContext): DirtyResult {
    const untrusted = untrustedReason(context.pid, context.slot, context.parent);
    historyBroken(context.pid, context.slot);
    const registered = context.vmas.filter((v) => v.flags.uffdWp);
    const written = scanWritten(context.pid, registered);
    const fresh = context.vmas.filter((v) => !v.flags.uffdWp && isTrackable(v));
    if (fresh.length > 0) registerWriteTracking(context.tid, vmaRanges(fresh));
    if (untrusted) return { dirty: context.candidates, allDirtyReason: untrusted };
    const freshRuns = fresh.map((v) => ({ start: v.start, pages: Number((v.end - v.start) / BigInt(PAGE_SIZE)) }));
    return { dirty: intersectRuns(context.candidates, unionRuns(written, freshRuns)) };
  }

  committed(context: TrackContext, identity: bigint): void {
    historyCommitted(context.pid, context.slot, identity);
  }
}

/** Written pages of the registered mappings; the scan write-protects them again. */
function scanWritten(pid: number, registered: Vma[]): PageRun[] {
  const written: PageRun[] = [];
  for (const vma of registered) {
    const triples = pagemapScan(pid, vma.start, vma.end, {
      writeProtect: true,
      categories: PAGE_IS_WRITTEN,
      categoryMask: PAGE_IS_WRITTEN,
      returnMask: PAGE_IS_WRITTEN,
    });
    for (let i = 0; i < triples.length; i += 3) {
      pushRun(written, triples[i]!, Number((triples[i + 1]! - triples[i]!) / BigInt(PAGE_SIZE)));
    }
  }
  return written;
}

/** Private writable memory of the program's own; cr's trampoline and kernel pages are not. */
function isTrackable(vma: Vma): boolean {
  return vma.prot.write && !vma.shared && !vma.internal && !["vdso", "vvar", "vvar_vclock", "vsyscall"].includes(vma.kind) && !vma.flags.io && !vma.flags.pfnmap;
}

function vmaRanges(vmas: Vma[]): BigUint64Array {
  const ranges = new BigUint64Array(vmas.length * 2);
  vmas.forEach((v, i) => {
    ranges[2 * i] = v.start;
    ranges[2 * i + 1] = v.end;
  });
  return ranges;
}

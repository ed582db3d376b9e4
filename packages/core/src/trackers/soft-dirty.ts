import { writeFileSync } from "node:fs";
import { readPagemap } from "@cr/native";
import { PAGE_SIZE, pushRun, runEnd, type PageRun } from "../pages.js";
import { historyBroken, historyCommitted, untrustedReason } from "./history.js";
import type { DirtyResult, DirtyTracker, TrackContext } from "./tracker.js";

const PM_SOFT_DIRTY = 1n << 55n;

/**
 * The kernel's soft-dirty bit (CONFIG_MEM_SOFT_DIRTY): pagemap bit 55 since the last
 * `echo 4 > /proc/PID/clear_refs`. Pages that vanished and came back (MADV_DONTNEED, mremap)
 * are not candidates with a parent entry, so the checkpoint engine copies them anyway.
 */
export class SoftDirtyTracker implements DirtyTracker {
  readonly name = "soft-dirty" as const;

  collectDirty(context: TrackContext): DirtyResult {
    const untrusted = untrustedReason(context.pid, context.slot, context.parent);
    historyBroken(context.pid, context.slot);
    const dirty = untrusted ? context.candidates : softDirtyRuns(context.pid, context.candidates);
    // Cleared while the target is still frozen, so no write falls between reading and clearing.
    writeFileSync(`/proc/${context.pid}/clear_refs`, "4");
    return untrusted ? { dirty, allDirtyReason: untrusted } : { dirty };
  }

  committed(context: TrackContext, identity: bigint): void {
    historyCommitted(context.pid, context.slot, identity);
  }
}

function softDirtyRuns(pid: number, candidates: PageRun[]): PageRun[] {
  const dirty: PageRun[] = [];
  for (const run of candidates) {
    const entries = readPagemap(pid, run.start, runEnd(run));
    entries.forEach((entry, i) => {
      if (entry & PM_SOFT_DIRTY) pushRun(dirty, run.start + BigInt(i * PAGE_SIZE), 1);
    });
  }
  return dirty;
}

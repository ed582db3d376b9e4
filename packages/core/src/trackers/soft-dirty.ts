import { writeFileSync } from "node:fs";
import { PAGE_SIZE, PAGEMAP, readPagemap } from "@cr/native";
import { planPages } from "../objects/memory.js";
import { intersectRuns, pushRun, runEnd, type PageRun } from "../pages.js";
import { historyBroken, historyCommitted, untrustedReason } from "./history.js";
import type { DirtyResult, DirtyTracker, TrackContext } from "./tracker.js";

const { PM_SOFT_DIRTY, CLEAR_REFS_SOFT_DIRTY } = PAGEMAP;

/**
 * The kernel's soft-dirty bit (CONFIG_MEM_SOFT_DIRTY): pagemap bit 55 since the last
 * `echo 4 > /proc/PID/clear_refs` (CLEAR_REFS_SOFT_DIRTY). Only present pages the parent holds
 * bytes for and whose bit is clear count as unchanged; pages that vanished are not present, so
 * they are looked at again.
 */
export class SoftDirtyTracker implements DirtyTracker {
  readonly name = "soft-dirty" as const;

  collectDirty(context: TrackContext): DirtyResult {
    const untrusted = untrustedReason(context.slot, context.parent);
    historyBroken(context.slot);
    const unchanged = untrusted || !context.parent ? [] : cleanPages(context);
    // Cleared while the target is still frozen, so no write falls between reading and clearing.
    writeFileSync(`/proc/${context.pid}/clear_refs`, String(CLEAR_REFS_SOFT_DIRTY));
    return untrusted ? { unchanged, allDirtyReason: untrusted } : { unchanged };
  }

  committed(context: TrackContext, identity: bigint): void {
    historyCommitted(context.slot, identity);
  }
}

function cleanPages(context: TrackContext): PageRun[] {
  const clean: PageRun[] = [];
  for (const run of planPages(context.pid, context.vmas).data) {
    readPagemap(context.pid, run.start, runEnd(run)).forEach((entry, i) => {
      if (!(entry & PM_SOFT_DIRTY)) pushRun(clean, run.start + BigInt(i * PAGE_SIZE), 1);
    });
  }
  return intersectRuns(clean, context.parent?.dataRuns ?? []);
}

import { PAGE_SIZE } from "@cr/native";
import { hasSavedPages, planPages, savedRuns, type PagePlan } from "./objects/memory.js";
import { subtractRuns, unionRuns, type PageRun } from "./pages.js";
import type { DirtyResult, PendingScan } from "./trackers/index.js";
import type { Vma } from "./objects/vmas.js";

/**
 * The pages to save: only what the tracker neither vouches for nor has seen (`known`) is looked at
 * again (in the pagemap of `pid`), and nothing in `elsewhere` (shared memory another member's
 * section holds).
 */
function planUnknown(pid: number, vmas: Vma[], known: PageRun[], elsewhere: PageRun[]): PagePlan {
  return planPages(pid, vmas, subtractRuns(subtractRuns(savedRuns(vmas), known), elsewhere));
}

/** The plan of what the tracker did not see, with the changed pages it saw. */
function withSeen(plan: PagePlan, result: DirtyResult, elsewhere: PageRun[]): PagePlan {
  // The tracker's answers are as large as the change (~40k runs for 20% of 1 GiB): few passes over them.
  if (!result.seen) return plan;
  const data = plan.data.length > 0 ? unionRuns(plan.data, result.seen.data) : result.seen.data;
  return { ...plan, data: elsewhere.length > 0 ? subtractRuns(data, elsewhere) : data };
}

/** The pages the tracker's answer covers: what it vouches for, and what it saw. */
function knownRuns(result: DirtyResult): PageRun[] {
  return result.seen ? (result.seen.known ?? unionRuns(result.unchanged, result.seen.scope)) : result.unchanged;
}

/** A member's plan, and the pages its parent's page map still describes. */
export interface PlannedMemory {
  plan: PagePlan;
  unchanged: PageRun[];
  /** The tracker's answer the plan was made from (a LaterAnswer's, made with it). */
  answer: DirtyResult;
}

/** The answer of a tracker that reads the pages (DirtyTracker.readsPages), made from those of process `from`. */
export type LaterAnswer = (from: number) => DirtyResult;

/**
 * A frozen member's memory plan, made once, when first asked for: while the tree is frozen; or,
 * when a frozen copy holds the member's pages (secure-pages.ts), after the thaw from the copy's
 * pagemap, which shows the freeze; or, when its pages were copied with the thaw
 * (secureWritten), after it from the scan's raw answer and the plan of the rest made before it.
 * The tracker's answer for 20% of 1 GiB makes ~40k runs, which then cost the target no time.
 */
export class MemoryPlan {
  private made?: PlannedMemory;
  private beforeScan?: PagePlan;

  constructor(
    private readonly vmas: Vma[],
    private readonly result: DirtyResult | LaterAnswer,
    private readonly elsewhere: () => PageRun[],
  ) {}

  /**
   * The changed pages holding data, estimated before the plan is made where that is cheap: the
   * tracker's count, and the resident anonymous pages it does not track (all of them when it
   * vouches for none, or has not looked yet: LaterAnswer). Undefined: only the plan tells.
   */
  get changedPages(): number | undefined {
    const anonymous = this.vmas.filter((v) => hasSavedPages(v) && v.kind !== "file");
    if (typeof this.result === "function") return residentPages(anonymous);
    if (this.result.changedPages !== undefined) return this.result.changedPages + residentPages(anonymous.filter((v) => !v.flags.uffdWp));
    if (!this.result.seen && this.result.unchanged.length === 0) return residentPages(anonymous);
    return undefined;
  }

  /**
   * The tracker's scan, where it left it pending (DirtyResult.pendingScan), and the plan of the
   * pages outside it, made when first asked for, before the scan runs: secureWritten copies them
   * with the pages the scan finds written.
   */
  pending(from: number): { scan: PendingScan; unscanned: () => PagePlan } | undefined {
    const scan = typeof this.result === "function" ? undefined : this.result.pendingScan;
    if (!scan || scan.settled) return undefined;
    return { scan, unscanned: () => (this.beforeScan ??= planUnknown(from, this.vmas, scan.tracked, this.elsewhere())) };
  }

  /** The plan, made (the first time) from the pagemap (and pages: LaterAnswer) of `from`: the member while frozen, or its frozen copy. */
  of(from: number): PlannedMemory {
    if (this.made) return this.made;
    const result = typeof this.result === "function" ? this.result(from) : this.result;
    const elsewhere = this.elsewhere();
    // The plan of the untracked pages made before the scan (pending) holds, unless the scan then knew nothing.
    const unknown = this.beforeScan && result.seen ? this.beforeScan : planUnknown(from, this.vmas, knownRuns(result), elsewhere);
    const plan = withSeen(unknown, result, elsewhere);
    // Asked for after the thaw (the image's map), where a tracker makes it then (write-protect.ts).
    this.made = {
      plan,
      get unchanged() {
        return result.unchanged;
      },
      answer: result,
    };
    return this.made;
  }
}

function residentPages(vmas: Vma[]): number {
  return vmas.reduce((sum, v) => sum + Number(v.rss), 0) / PAGE_SIZE;
}

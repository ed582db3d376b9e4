import type { KernelFeatures } from "@cr/native";
import { CrError } from "../errors.js";
import type { PageRun } from "../pages.js";
import type { Vma } from "../objects/vmas.js";
import type { HistorySlot } from "./history.js";

/**
 * Dirty-page tracking (docs/design.md decision 6): one interface, three backends. Hashing works on
 * every kernel and is the fallback; write-protect scan and soft-dirty ask the kernel instead of
 * reading all memory. A tracker may over-report dirty pages, never under-report.
 */
export const TRACKER_NAMES = ["write-protect", "soft-dirty", "hashing"] as const;
export type TrackerName = (typeof TRACKER_NAMES)[number];

/** What a tracker sees of the frozen target at a snapshot. */
export interface TrackContext {
  pid: number;
  /** The thread used for injected syscalls (the thread-group leader). */
  tid: number;
  /** The target's mappings at the freeze instant. */
  vmas: Vma[];
  /** Shared objects (sharedObjectKey) a descriptor of the tree holds: write(2) through it shows in no page table. */
  heldOpen: ReadonlySet<string>;
  /**
   * Why none of the process's shared mappings can be vouched for: a child made since the parent
   * image may have written shared memory through a mapping of its own, which is not tracked.
   */
  sharedDoubt?: string;
  /** The page faults of the children it reaped, as the freeze read them (ProcStat.childFaults). */
  childFaults: bigint;
  /** The tracker history slot in the target (see history.ts). */
  slot: HistorySlot;
  /** The parent image, or null for a full image. */
  parent: {
    identity: bigint;
    /** State this tracker recorded in the parent, if it was this tracker. */
    state: Uint8Array | null;
    /** Pages the parent holds bytes for (DATA or REF). */
    dataRuns: PageRun[];
    /** Pages the parent image itself holds (DATA): what its snapshot saw changed. */
    changedRuns(): PageRun[];
    /** The guard regions the parent image recorded; null where it recorded none (made before MEMORY_ATTRS). */
    guards: PageRun[] | null;
    /** The process was restarted from the parent image: it began there, afresh. */
    restarted: boolean;
  } | null;
}

export interface DirtyResult {
  /**
   * Pages for which the parent's page map (an entry, or the absence of one) still describes the
   * process exactly. Everything else is looked at again. Empty means "save everything".
   */
  unchanged: PageRun[];
  /**
   * What the tracker already saw of the changed pages: within `scope`, exactly the `data` runs
   * are present (and hold data). Saves the engine a second look at them.
   */
  seen?: {
    scope: PageRun[];
    data: PageRun[];
    /** `unchanged` and `scope` together, where the tracker has them at hand (every page it tracks): spares the engine their union. */
    known?: PageRun[];
  };
  /**
   * How many of the changed pages hold data, where the tracker counts them before it makes runs
   * of them: the engine then decides how to secure them (secure-pages.ts) without the runs,
   * which `unchanged` and `seen` make when first read.
   */
  changedPages?: number;
  /** Why nothing counts as unchanged although there is a parent ("history lost", ...). */
  allDirtyReason?: string;
  /**
   * State to record in the new image for the next snapshot (the hashing tracker's page hashes),
   * made when the image is written: after the thaw, from the context as it is then, and from the
   * saved pages' bytes where they can be read then (not where the tree stays frozen meanwhile).
   */
  state?: (saved: SavedPages | undefined) => Uint8Array | Promise<Uint8Array>;
  /**
   * The writes through each mapping of a shared object that only its mappings change, which the
   * tree vouches for as a whole (shared-objects.ts). Absent when the tracker cannot tell them.
   */
  sharedWrites?: MappingWrites[];
  /**
   * The guard regions within the tracker's guardScope, made when first asked for (after the
   * thaw). Absent when it cannot tell them (its history broken): they are then scanned.
   */
  guards?: () => PageRun[];
  /**
   * The scan of the tracked pages, where the tracker leaves it to the engine: run with the copy
   * of the pages it finds and the thaw in one native call (secure-pages.ts, copyWrittenAndThaw),
   * or alone (`run`). The rest of the answer reads it, and runs it first if nobody did.
   */
  pendingScan?: PendingScan;
}

/** The pages an image holds (its plan's data runs, in address order), and their bytes as saved, to read after the thaw. */
export interface SavedPages {
  runs: PageRun[];
  /** The bytes of `runs`, which are the data runs from page index `first` on (a block of them at most): secure-pages.ts, PageSource. */
  read(runs: PageRun[], first: number, into: Buffer): Promise<Buffer>;
}

/** A scan of written pages for secureWritten (@cr/native): ranges are (start, end) pairs. */
export interface PendingScan {
  pid: number;
  /** The pages it answers for: the engine plans the rest of the memory before it runs. */
  tracked: PageRun[];
  /** Ranges it re-arms, and those it only reads. */
  armed: BigUint64Array;
  unarmed: BigUint64Array;
  returnMask: number;
  /** Whether it ran (`run` or `settle`). */
  readonly settled: boolean;
  /** Its answer, from secureWritten: [armed, unarmed] triples, or null where a mapping lost its registration. Call while frozen. */
  settle(scans: [BigUint64Array, BigUint64Array] | null): void;
  /** Runs it here, while frozen, if it has not run. */
  run(): void;
}

/** The pages written through one mapping (by its start) since the parent image; null: not known (not tracked since then). */
export interface MappingWrites {
  start: bigint;
  written: PageRun[] | null;
}

export interface DirtyTracker {
  readonly name: TrackerName;
  /**
   * With the target frozen: which pages did not change since the parent image, re-armed so the
   * next snapshot sees only changes from now on. It may call too much changed, never too little.
   */
  collectDirty(context: TrackContext): DirtyResult;
  /**
   * collectDirty only reads the process's pages and pagemap and re-arms nothing (hashing): it may
   * run after the thaw, on a frozen copy holding them (context.pid the copy's), instead of
   * keeping the process frozen while it reads all its memory.
   */
  readonly readsPages?: boolean;
  /**
   * The pages whose guard regions collectDirty will give (DirtyResult.guards), known from the
   * mappings and the parent before it runs: the other saved pages are scanned for guard regions
   * meanwhile (mapping-attrs.ts, scanGuards).
   */
  guardScope?(vmas: Vma[], parent: TrackContext["parent"]): PageRun[];
  /** After the new image is durable: the tracker's history now continues from `identity`. */
  committed(context: TrackContext, identity: bigint): void;
  /**
   * While the target runs: what collectDirty would say now, with nothing registered or re-armed
   * and the history taken as trusted (checkpoint.ts rehearses the frozen steps on it).
   * Absent where that costs as much as collectDirty itself.
   */
  preview?(context: Omit<TrackContext, "tid" | "slot" | "childFaults">): DirtyResult;
}

export interface TrackerChoice {
  name: TrackerName;
  reason: string;
}

/**
 * The requested backend if the kernel has it, else the best available one, with the reason
 * shown to the user.
 */
export function chooseTracker(kernel: KernelFeatures, requested?: TrackerName): TrackerChoice {
  const availability: Record<TrackerName, { available: boolean; reason: string }> = {
    "write-protect": kernel.writeProtectScan,
    "soft-dirty": kernel.softDirty,
    hashing: { available: true, reason: "reads and hashes every page; works on any kernel" },
  };
  if (requested) {
    const { available, reason } = availability[requested];
    if (!available) throw new CrError(`tracker ${requested} is not available here: ${reason}`, { code: "UNSUPPORTED" });
    return { name: requested, reason: `requested with --tracker` };
  }
  const skipped: string[] = [];
  for (const name of TRACKER_NAMES) {
    const { available, reason } = availability[name];
    if (available) return { name, reason: skipped.length ? `${reason}; ${skipped.join("; ")}` : reason };
    skipped.push(`${name} unavailable: ${reason}`);
  }
  throw new Error("unreachable: hashing is always available");
}

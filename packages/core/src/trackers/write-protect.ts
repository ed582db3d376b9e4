import { NativeError, PAGE_IS_GUARD, PAGE_IS_PRESENT, PAGE_SIZE, PAGE_IS_SWAPPED, PAGE_IS_WRITTEN, pagemapScanRanges, probeKernel, registerWriteTracking, scratch } from "@cr/native";
import { hasSavedPages } from "../objects/memory.js";
import { scanGuardsNow } from "../objects/mapping-attrs.js";
import { intersectRuns, pushRun, RunList, runRanges, subtractRuns, unionRuns, type PageRun } from "../pages.js";
import { isTrackedThroughMappings } from "../objects/shmem.js";
import { collectVmas, markTrampoline, vmaPages, vmaRanges, type Vma } from "../objects/vmas.js";
import { closeHistorySlot, historyBroken, historyCommitted, openHistorySlot, untrustedReason } from "./history.js";
import { decodeState, encodeState, hotAfter, unarmedNow } from "./hot-pages.js";
import type { DirtyResult, DirtyTracker, MappingWrites, PendingScan, SavedPages, TrackContext } from "./tracker.js";

/** What the scan of a process's registered mappings needs of its context. */
type Scanned = Omit<TrackContext, "tid" | "slot" | "childFaults">;

/**
 * userfaultfd in WP_ASYNC mode registered in the target's own mm, read and re-armed atomically
 * with PAGEMAP_SCAN (PM_SCAN_WP_MATCHING) while the target is frozen. In a registered mapping a
 * page the scan does not report as written is exactly as the parent saw it: its bytes, and
 * whether it is there at all (MADV_DONTNEED'd pages come back as written). A mapping that was
 * not registered before this snapshot (new, moved by mremap, replaced) is not vouched for, and
 * gets registered now.
 *
 * Shared memory (shared anonymous, a memfd, a tmpfs file) registers and scans as private memory
 * does, on 6.18 (scripts/fixtures/shmem_wp_probe.c): the first scan after registering reports
 * every page not populated yet, then exactly the pages written through the registered mapping,
 * MADV_DONTNEED'd or not. It does not report writes through another mapping of the object, by a
 * forked child (the fork drops the registration) or by write(2), nor a page MADV_REMOVE or a
 * hole punch took away. So a process vouches for its private memory only. Each mapping of a
 * shared object that only its mappings change (isTrackedThroughMappings) is registered, and its
 * writes reported (`sharedWrites`): the tree vouches for the object when every mapping of it,
 * one or several, in this process or others, was tracked since the parent, and looks at its
 * holes again (trackers/shared-objects.ts); any other shared object is saved whole.
 *
 * (Re-arming after the thaw, with the pages written meanwhile checked against the saved bytes,
 * was tried: restarted heap_checksum chains then differed from their reference run in 2-4 of 8
 * runs, even with every page the re-arm reported carried to the next snapshot. See
 * docs/checkpoint.md, "Tried and not kept", and docs/measurements.md.)
 */
export class WriteProtectTracker implements DirtyTracker {
  readonly name = "write-protect" as const;

  collectDirty(context: TrackContext): DirtyResult {
    const untrusted = untrustedReason(context.slot, context.parent);
    historyBroken(context.slot);
    // Registering injects syscalls: done before the scan re-protects (see checkpointFrozen).
    const fresh = registrable(context.vmas, context.heldOpen).filter((v) => !v.flags.uffdWp);
    if (fresh.length > 0) registerWriteTracking(context.tid, vmaRanges(fresh), context.vmas.some((v) => v.flags.uffdWp));
    const doubt = context.sharedDoubt ?? reapedSince(context.childFaults, context.parent);
    const { round, unarmed } = unarmedNow(context.parent, untrusted !== undefined);
    const result = dirtyResult({ ...context, sharedDoubt: doubt }, { rearm: true, unarmed }, untrusted);
    // Made after the thaw; the context's childFaults then counts a frozen copy's go-between too.
    const state = async (saved: SavedPages | undefined) => encodeState({ childFaults: context.childFaults, round, ...(await hotAfter(context.parent, round, result.seen?.scope ?? [], saved)) });
    return Object.assign(result, { state });
  }

  committed(context: TrackContext, identity: bigint): void {
    historyCommitted(context.slot, identity);
  }

  /** The tracked pages, where the parent recorded its guard regions (a guard installed or removed since scans as written). */
  guardScope(vmas: Vma[], parent: TrackContext["parent"]): PageRun[] {
    return parent?.guards && guardsSeen() ? trackedRuns(vmas) : [];
  }

  preview(context: Scanned): DirtyResult {
    return dirtyResult(context, { rearm: false, unarmed: [] }, undefined);
  }
}

const LOST = "a mapping lost its write tracking (the program closed cr's userfaultfd)";

/**
 * What the registered mappings' written pages say; with `rearm` the scan write-protects them
 * again, all but the `unarmed` pages of the own memory (hot-pages.ts), which it only reads. The
 * process's own memory and shared objects' mappings are scanned apart: each scan's runs are then
 * its answer as they are. The own memory's scan is left to the engine (DirtyResult.pendingScan),
 * which runs it with the copy of its pages and the thaw; its runs (a 20% increment of 1 GiB is
 * ~40k of them) are made when first asked for, after the thaw.
 */
function dirtyResult(context: Scanned, { rearm, unarmed }: { rearm: boolean; unarmed: PageRun[] }, untrusted: string | undefined): DirtyResult {
  const owned = new Set(ownMemory(context.vmas));
  const shared = context.vmas.filter((v) => v.flags.uffdWp && !owned.has(v));
  const tracked = trackedRuns(context.vmas);
  const kept = unarmed.length > 0 ? intersectRuns(tracked, unarmed) : [];
  const armed = kept.length > 0 ? subtractRuns(tracked, kept) : tracked;
  const scan = new OwnScan(context.pid, tracked, runRanges(armed), runRanges(kept), rearm);
  const sharedWritten = scanWritten(context.pid, vmaRanges(shared), rearm);
  if (untrusted || !sharedWritten) {
    scan.run(); // it re-arms all the same
    return { unchanged: [], allDirtyReason: untrusted ?? LOST };
  }
  let answer: Pick<DirtyResult, "unchanged" | "seen"> | undefined;
  let present: number | undefined; // counted once: a 20% increment of 1 GiB is ~40k regions, and the count is read several times
  const runs = (written: Regions) => (answer ??= ownAnswer(tracked, written));
  const parentGuards = context.parent?.guards;
  return {
    get allDirtyReason() {
      return scan.regions() ? undefined : LOST;
    },
    get unchanged() {
      const written = scan.regions();
      return written ? runs(written).unchanged : [];
    },
    get seen() {
      const written = scan.regions();
      return written ? runs(written).seen : undefined;
    },
    get changedPages() {
      const written = scan.regions();
      return written ? (present ??= presentPages(written)) : undefined;
    },
    sharedWrites: sharedWrites(context, writtenRuns([sharedWritten]).all),
    ...(parentGuards && guardsSeen() ? { guards: () => scan.guards(parentGuards, (written) => runs(written).seen!.scope) } : {}),
    ...(rearm ? { pendingScan: scan } : {}), // a preview's runs when first read
  };
}

/** The own memory's scan (PendingScan): run by secureWritten with the copy and the thaw, or here. */
export class OwnScan implements PendingScan {
  readonly returnMask = scanMask();
  private scans?: Regions | null;
  /** Where nothing is known (null scans): the tracked pages' guard regions, scanned then, still frozen. */
  private lostGuards: PageRun[] = [];

  constructor(
    readonly pid: number,
    readonly tracked: PageRun[],
    readonly armed: BigUint64Array,
    readonly unarmed: BigUint64Array,
    private readonly rearm: boolean,
  ) {}

  get settled(): boolean {
    return this.scans !== undefined;
  }

  settle(scans: Regions | null): void {
    this.scans = scans;
    if (!scans && guardsSeen()) this.lostGuards = scanGuardsNow(this.pid, this.tracked);
  }

  run(): void {
    if (this.settled) return;
    const armed = scanWritten(this.pid, this.armed, this.rearm);
    const unarmed = this.unarmed.length > 0 ? scanWritten(this.pid, this.unarmed, false) : NO_REGIONS;
    this.settle(armed && unarmed ? [armed, unarmed] : null);
  }

  /** The scans' triples, run here first if nobody ran them; null: nothing is known. */
  regions(): Regions | null {
    this.run();
    return this.scans!;
  }

  /** The tracked pages' guard regions (trackedGuards), `written` the pages the scans saw written. */
  guards(parentGuards: PageRun[], written: (scans: Regions) => PageRun[]): PageRun[] {
    const scans = this.regions();
    return scans ? trackedGuards(this.tracked, scans, written(scans), parentGuards) : this.lostGuards;
  }
}

/**
 * The guard regions of the tracked pages: those the scans saw, and the parent's on the pages
 * not written since. A guard installed on a tracked page scans as written, and so does the
 * page once the guard is removed (scripts/fixtures/guard_wp_probe.c); the re-arm write-protects
 * a guard's marker as it does a page.
 */
function trackedGuards(tracked: PageRun[], scans: Regions, written: PageRun[], parentGuards: PageRun[]): PageRun[] {
  const seen = new RunList();
  forEachInOrder(scans, (start, end, categories) => {
    if (categories & PAGE_IS_GUARD) seen.add(start, end);
  });
  return unionRuns(seen.runs, subtractRuns(intersectRuns(parentGuards, tracked), written));
}

/**
 * The own memory's answer: every written page looked at again, the present ones the process's
 * own copy (COW'd if the mapping is a file's). The unchanged pages are made when first asked for:
 * the plan inside the freeze needs only the rest, the image's map after the thaw all.
 */
function ownAnswer(tracked: PageRun[], scan: Regions): Pick<DirtyResult, "unchanged" | "seen"> {
  const written = writtenRuns(scan);
  let unchanged: PageRun[] | undefined;
  return {
    get unchanged() {
      return (unchanged ??= subtractRuns(tracked, written.all));
    },
    seen: { scope: written.all, data: written.present, known: tracked },
  };
}

/** The writes through each mapping of a shared object tracked through its mappings; an unregistered one's, or any in doubt, are not known. */
function sharedWrites(context: Scanned, written: PageRun[]): MappingWrites[] {
  const known = (v: Vma) => v.flags.uffdWp && !context.sharedDoubt;
  return context.vmas
    .filter((v) => isTrackedThroughMappings(v, context.heldOpen))
    .map((v) => ({ start: v.start, written: known(v) ? intersectRuns(written, [{ start: v.start, pages: vmaPages(v) }]) : null }));
}

/**
 * Why shared memory cannot be vouched for: the process reaped a child since the parent image (or
 * the parent does not say). The tracker's state in an image counts the page faults of the
 * children the process had reaped (ProcStat.childFaults): a child forked since the parent image,
 * written through its own mapping of shared memory (the fork dropped the registration) and reaped
 * since, shows in no page table; it shows in this count. A process restarted from the parent
 * began there with none reaped.
 */
function reapedSince(childFaults: bigint, parent: TrackContext["parent"]): string | undefined {
  const before = parent?.restarted ? 0n : decodeState(parent?.state ?? null)?.childFaults;
  return before === childFaults ? undefined : "it reaped a child since the parent image, which may have written shared memory through a mapping of its own";
}

/**
 * The registered ranges' written pages, (start, end, categories) triples, in one scan; with
 * `rearm` the scan write-protects them again. The scan fails with EPERM
 * (PM_SCAN_CHECK_WPASYNC) rather than skip a mapping that lost its registration, e.g. because
 * the program closed every fd it did not know: then nothing is known (null).
 */
function scanWritten(pid: number, ranges: BigUint64Array, rearm: boolean): BigUint64Array | null {
  const returnMask = scanMask();
  try {
    // One call for all the ranges: a process has dozens of mappings, most of them small.
    return pagemapScanRanges(pid, ranges, { writeProtect: rearm, categories: PAGE_IS_WRITTEN, categoryMask: PAGE_IS_WRITTEN, returnMask });
  } catch (error) {
    if (error instanceof NativeError && error.code === "EPERM") return null;
    throw error;
  }
}

/** What the scans of written pages return of each: whether it holds a page, and is a guard region. */
function scanMask(): number {
  return PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | (guardsSeen() ? PAGE_IS_GUARD : 0);
}

/** Scans of disjoint ranges, each a list of triples in address order. */
type Regions = BigUint64Array[];
const NO_REGIONS = new BigUint64Array(0);

/** A scan's triples, read as 32-bit halves: no bigint per value (a 20% increment of 1 GiB returns ~40k regions). */
function forEachTriple(scan: BigUint64Array, visit: (start: number, end: number, categories: number) => void): void {
  const words = new Uint32Array(scan.buffer, scan.byteOffset, scan.length * 2);
  for (let i = 0; i < words.length; i += 6) visit(words[i + 1]! * 2 ** 32 + words[i]!, words[i + 3]! * 2 ** 32 + words[i + 2]!, words[i + 4]!);
}

/** The triples of all the scans, in address order (merged where there are two). */
function forEachInOrder(scans: Regions, visit: (start: number, end: number, categories: number) => void): void {
  const [first, second] = scans.filter((scan) => scan.length > 0);
  if (!second) return forEachTriple(first ?? NO_REGIONS, visit);
  const pending: [number, number, number][] = [];
  forEachTriple(second, (start, end, categories) => pending.push([start, end, categories]));
  let next = 0;
  forEachTriple(first!, (start, end, categories) => {
    for (; next < pending.length && pending[next]![0] < start; next++) visit(...pending[next]!);
    visit(start, end, categories);
  });
  for (; next < pending.length; next++) visit(...pending[next]!);
}

const HOLDS_PAGE = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;

/** Whether a written region holds a page: a guard page's marker scans as swapped, and holds none. */
function holdsPage(categories: number): boolean {
  return (categories & HOLDS_PAGE) !== 0 && (categories & PAGE_IS_GUARD) === 0;
}

/** The written pages, and those of them that hold a page (present or swapped): mostly all of them, the same list. */
function writtenRuns(scans: Regions): { all: PageRun[]; present: PageRun[] } {
  const all = new RunList();
  let present: RunList | undefined; // apart from `all` from the first written page that holds none on
  forEachInOrder(scans, (start, end, categories) => {
    const holds = holdsPage(categories);
    if (!holds) present ??= all.copy();
    all.add(start, end);
    if (holds) present?.add(start, end);
  });
  return { all: all.runs, present: present?.runs ?? all.runs };
}

function presentPages(scans: Regions): number {
  let pages = 0;
  for (const scan of scans) {
    forEachTriple(scan, (start, end, categories) => {
      if (holdsPage(categories)) pages += (end - start) / PAGE_SIZE;
    });
  }
  return pages;
}

/** Whether the scans report guard regions (PAGE_IS_GUARD: Linux 6.14+; before, a kernel refuses the bit). */
function guardsSeen(): boolean {
  return probeKernel().guardScan.available;
}

/** The registered own memory, as runs: what the tracker answers for. */
function trackedRuns(vmas: Vma[]): PageRun[] {
  const tracked: PageRun[] = [];
  for (const v of ownMemory(vmas).filter((v) => v.flags.uffdWp)) pushRun(tracked, v.start, vmaPages(v));
  return tracked;
}

/** Writable private memory: the process alone changes it, and its tracker vouches for it. */
function ownMemory(vmas: Vma[]): Vma[] {
  return vmas.filter((v) => hasSavedPages(v) && v.prot.write && !v.shared);
}

/** What is registered: private memory, and writable mappings of shared objects tracked through their mappings. */
function registrable(vmas: Vma[], heldOpen: ReadonlySet<string>): Vma[] {
  return vmas.filter((v) => hasSavedPages(v) && v.prot.write && (!v.shared || isTrackedThroughMappings(v, heldOpen)));
}

// ================================================================ restart half

/**
 * Write tracking, restart half. A restarted process's memory is exactly its image's, so tracking
 * armed before it runs makes its next snapshot an increment of that image instead of a full
 * copy: the image's identity goes into the history slot, as a committed snapshot's would. The
 * process must be stopped, with its mappings and memory in place.
 */
export function armAfterRestart(pid: number, identity: bigint, heldOpen: ReadonlySet<string>): void {
  const area = scratch(pid);
  const vmas = registrable(markTrampoline(collectVmas(pid), area.trampoline), heldOpen);
  // Mappings the kernel refuses to track are left out; the next snapshot saves them whole.
  if (vmas.length > 0) registerWriteTracking(pid, vmaRanges(vmas), false); // a stub's own: none registered yet
  const slot = openHistorySlot(pid, area);
  try {
    historyCommitted(slot, identity);
  } finally {
    closeHistorySlot(slot);
  }
}

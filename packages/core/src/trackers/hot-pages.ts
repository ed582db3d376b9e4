import { intersectRuns, type PageRun } from "../pages.js";
import type { TrackContext } from "./tracker.js";

/**
 * Hot pages: what a program writes in every interval (its working set) the write-protect
 * tracker leaves unarmed, so that the program does not take a write-protect fault on each of
 * them after every snapshot (14-22 µs each on this VM: a 16 MiB working set written every second
 * cost the program 6-9% of its time). An unarmed page always scans as written, so it is saved
 * in every increment, written or not: nothing is missed, and a page that cooled is saved
 * unchanged until the next increment that arms every page (every REARM_EVERY-th).
 *
 * Hot means written in this increment and in the one before, which the image records for the
 * next snapshot (the parent's own pages: ParentImage.changedRuns), after the thaw. Only runs of
 * MIN_HOT_PAGES or more count: a few pages written twice running are as likely chance (1% of
 * random pages written each time has ~26 such pages an increment) as a working set, and each
 * would be saved at every increment until the next that arms every page, for a fault or two it
 * spares. The largest MAX_HOT_RUNS runs are kept, which bounds the state an image records.
 */
export const REARM_EVERY = 8;
export const MIN_HOT_PAGES = 16;
export const MAX_HOT_RUNS = 32;

/** The write-protect tracker's state in an image (TRACKER record), encoded and decoded by the layout below. */
export interface WriteProtectState {
  /** The page faults of the children the process had reaped (ProcStat.childFaults). */
  childFaults: bigint;
  /** Increments since an image that armed every page from scratch: 0 for a full image, or one whose history was not trusted. */
  round: number;
  /** Pages written in this increment and the one before: the next snapshot leaves them unarmed. */
  hot: PageRun[];
}

/** childFaults u64, round u32, hot run count u32, then (start u64, pages u64) per hot run, little-endian. */
const HEADER_BYTES = 16;
const RUN_BYTES = 16;
/** Images of cr before hot pages hold childFaults alone. */
const CHILD_FAULTS_ONLY = 8;

export function encodeState({ childFaults, round, hot }: WriteProtectState): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + hot.length * RUN_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, childFaults, true);
  view.setUint32(8, round, true);
  view.setUint32(12, hot.length, true);
  hot.forEach((run, i) => {
    view.setBigUint64(HEADER_BYTES + i * RUN_BYTES, run.start, true);
    view.setBigUint64(HEADER_BYTES + i * RUN_BYTES + 8, BigInt(run.pages), true);
  });
  return bytes;
}

/** The state, or null where it does not add up (nothing is then known of the parent's children or pages). */
export function decodeState(bytes: Uint8Array | null): WriteProtectState | null {
  if (!bytes || bytes.length < CHILD_FAULTS_ONLY) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const childFaults = view.getBigUint64(0, true);
  if (bytes.length === CHILD_FAULTS_ONLY) return { childFaults, round: 0, hot: [] };
  if (bytes.length < HEADER_BYTES || bytes.length !== HEADER_BYTES + view.getUint32(12, true) * RUN_BYTES) return null;
  const hot: PageRun[] = [];
  for (let at = HEADER_BYTES; at < bytes.length; at += RUN_BYTES) hot.push({ start: view.getBigUint64(at, true), pages: Number(view.getBigUint64(at + 8, true)) });
  return { childFaults, round: view.getUint32(8, true), hot };
}

/**
 * This snapshot's round, and the pages its scan leaves unarmed: the parent's hot pages, unless
 * the round arms every page. A restarted process had every page armed at its restart.
 */
export function unarmedNow(parent: TrackContext["parent"], untrusted: boolean): { round: number; unarmed: PageRun[] } {
  if (!parent || untrusted) return { round: 0, unarmed: [] };
  if (parent.restarted) return { round: 1, unarmed: [] };
  const before = decodeState(parent.state);
  const round = (before?.round ?? 0) + 1;
  return { round, unarmed: round % REARM_EVERY === 0 ? [] : (before?.hot ?? []) };
}

/**
 * The pages the next snapshot leaves unarmed: of those written now (the own memory's, sorted),
 * the ones the parent saved as its own changes too, where the parent was an increment itself.
 */
export function hotAfter(parent: TrackContext["parent"], round: number, written: PageRun[]): PageRun[] {
  if (!parent || round < 2) return [];
  const long = (runs: PageRun[]) => runs.filter((run) => run.pages >= MIN_HOT_PAGES);
  const candidates = long(written); // few or none of a scattered change: the parent's runs are then not made
  return candidates.length === 0 ? [] : largest(long(intersectRuns(candidates, parent.changedRuns())), MAX_HOT_RUNS);
}

/** The `count` largest runs, in address order. */
function largest(runs: PageRun[], count: number): PageRun[] {
  if (runs.length <= count) return runs;
  return [...runs].sort((a, b) => b.pages - a.pages).slice(0, count).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

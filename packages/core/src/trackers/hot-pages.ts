import { PAGE_SIZE, xxh64Pages } from "@cr/native";
import { intersectRuns, pushRun, runEnd, totalPages, type PageRun } from "../pages.js";
import { HashLookup, type PageHashes } from "./hashing.js";
import type { SavedPages, TrackContext } from "./tracker.js";

/**
 * Hot pages: what a program writes in every interval (its working set) the write-protect
 * tracker leaves unarmed, so that the program does not take a write-protect fault on each of
 * them after every snapshot (14-22 µs each on this VM: a 16 MiB working set written every second
 * cost the program 6-9% of its time). An unarmed page always scans as written, so it is saved
 * in every increment, written or not: nothing is missed.
 *
 * Hot means written in this increment and in the one before, which the image records for the
 * next snapshot (the parent's own pages: ParentImage.changedRuns), after the thaw. A page left
 * unarmed stays hot only while its bytes change: the image records the XXH64 of each hot page
 * as saved, and a page saved again with the same hash has cooled, and is armed by the next
 * snapshot (docs/checkpoint.md, "Hot pages stay unarmed"). The pages are hashed after the thaw;
 * where the tree stays frozen while they are written, nothing is hashed and nothing stays hot.
 *
 * Only runs of MIN_HOT_PAGES or more count: a few pages written twice running are as likely
 * chance (1% of random pages written each time has ~26 such pages an increment) as a working
 * set, and each would be saved at every increment for a fault or two it spares. The largest
 * MAX_HOT_RUNS runs are kept, which bounds the state an image records.
 */
export const MIN_HOT_PAGES = 16;
export const MAX_HOT_RUNS = 32;

/** The write-protect tracker's state in an image (TRACKER record), encoded and decoded by the layout below. */
export interface WriteProtectState {
  /** The page faults of the children the process had reaped (ProcStat.childFaults). */
  childFaults: bigint;
  /** Increments since an image that armed every page from scratch: 0 for a full image, or one whose history was not trusted. */
  round: number;
  /** Pages written in this increment and the one before, whose bytes changed: the next snapshot leaves them unarmed. */
  hot: PageRun[];
  /** The XXH64 of each hot page as this image saved it, in run order (none recorded: images of cr before them). */
  hashes: BigUint64Array;
}

/**
 * childFaults u64, round u32, hot run count u32, then (start u64, pages u64) per hot run, then
 * the XXH64 u64 of each hot page in run order, little-endian.
 */
const HEADER_BYTES = 16;
const RUN_BYTES = 16;
const HASH_BYTES = 8;
/** Images of cr before hot pages hold childFaults alone. */
const CHILD_FAULTS_ONLY = 8;
const NO_HOT: Pick<WriteProtectState, "hot" | "hashes"> = { hot: [], hashes: new BigUint64Array(0) };

export function encodeState({ childFaults, round, hot, hashes }: WriteProtectState): Uint8Array {
  const hashesAt = HEADER_BYTES + hot.length * RUN_BYTES;
  const bytes = new Uint8Array(hashesAt + hashes.length * HASH_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, childFaults, true);
  view.setUint32(8, round, true);
  view.setUint32(12, hot.length, true);
  hot.forEach((run, i) => {
    view.setBigUint64(HEADER_BYTES + i * RUN_BYTES, run.start, true);
    view.setBigUint64(HEADER_BYTES + i * RUN_BYTES + 8, BigInt(run.pages), true);
  });
  bytes.set(new Uint8Array(hashes.buffer, hashes.byteOffset, hashes.byteLength), hashesAt); // little-endian, as the hashing tracker's state
  return bytes;
}

/**
 * The state, or null where it does not add up (nothing is then known of the parent's children or
 * pages). Hot runs recorded without hashes (cr before them) count as cooled: none is left unarmed.
 */
export function decodeState(bytes: Uint8Array | null): WriteProtectState | null {
  if (!bytes || bytes.length < CHILD_FAULTS_ONLY) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const childFaults = view.getBigUint64(0, true);
  if (bytes.length === CHILD_FAULTS_ONLY) return { childFaults, round: 0, ...NO_HOT };
  if (bytes.length < HEADER_BYTES) return null;
  const round = view.getUint32(8, true);
  const hashesAt = HEADER_BYTES + view.getUint32(12, true) * RUN_BYTES;
  if (bytes.length === hashesAt) return { childFaults, round, ...NO_HOT };
  if (bytes.length < hashesAt) return null;
  const hot: PageRun[] = [];
  for (let at = HEADER_BYTES; at < hashesAt; at += RUN_BYTES) hot.push({ start: view.getBigUint64(at, true), pages: Number(view.getBigUint64(at + 8, true)) });
  if (bytes.length !== hashesAt + totalPages(hot) * HASH_BYTES) return null;
  // The hashes are made when first read, after the thaw (hotAfter): the state is decoded inside
  // the freeze too (unarmedNow, reapedSince), where fresh memory for them costs page faults.
  let hashes: BigUint64Array | undefined;
  return {
    childFaults,
    round,
    hot,
    get hashes() {
      return (hashes ??= copyHashes(bytes.subarray(hashesAt)));
    },
  };
}

/** Little-endian u64 hashes into their own array: one copy, no bigint each. */
function copyHashes(bytes: Uint8Array): BigUint64Array {
  const hashes = new BigUint64Array(bytes.length / HASH_BYTES);
  new Uint8Array(hashes.buffer).set(bytes);
  return hashes;
}

/**
 * This snapshot's round, and the pages its scan leaves unarmed: the parent's hot pages. A
 * restarted process had every page armed at its restart.
 */
export function unarmedNow(parent: TrackContext["parent"], untrusted: boolean): { round: number; unarmed: PageRun[] } {
  if (!parent || untrusted) return { round: 0, unarmed: [] };
  if (parent.restarted) return { round: 1, unarmed: [] };
  const before = decodeState(parent.state);
  return { round: (before?.round ?? 0) + 1, unarmed: before?.hot ?? [] };
}

/**
 * The pages the next snapshot leaves unarmed, with their hashes: of those written now (the own
 * memory's, sorted) and `saved`, the ones the parent saved as its own changes too, where the
 * parent was an increment itself; of the parent's hot pages (unarmed now, so written or not),
 * only those whose bytes changed.
 */
export async function hotAfter(parent: TrackContext["parent"], round: number, written: PageRun[], saved: SavedPages | undefined): Promise<Pick<WriteProtectState, "hot" | "hashes">> {
  if (!parent || round < 2 || !saved) return NO_HOT;
  const candidates = long(written); // few or none of a scattered change: the parent's runs are then not made
  const twice = candidates.length === 0 ? [] : long(intersectRuns(intersectRuns(candidates, parent.changedRuns()), saved.runs));
  if (twice.length === 0) return NO_HOT;
  const changed = stillChanging(twice, await savedPageHashes(saved, twice), decodeState(parent.state) ?? NO_HOT);
  const hot = largest(long(changed.runs), MAX_HOT_RUNS);
  const lookup = new HashLookup(changed);
  return { hot, hashes: BigUint64Array.from(hot.flatMap((run) => pagesOf(run).map((address) => lookup.get(address)!))) };
}

/** The runs of MIN_HOT_PAGES or more. */
function long(runs: PageRun[]): PageRun[] {
  return runs.filter((run) => run.pages >= MIN_HOT_PAGES);
}

/** The pages of `runs` (hashed as `hashes`) but those the parent left unarmed that hash as it saved them. */
function stillChanging(runs: PageRun[], hashes: BigUint64Array, before: Pick<WriteProtectState, "hot" | "hashes">): PageHashes {
  const unarmed = new HashLookup({ runs: before.hot, hashes: before.hashes });
  const changed: PageHashes = { runs: [], hashes: new BigUint64Array(hashes.length) };
  let at = 0;
  let kept = 0;
  for (const run of runs) {
    for (const address of pagesOf(run)) {
      const hash = hashes[at++]!;
      if (unarmed.get(address) === hash) continue;
      pushRun(changed.runs, address, 1);
      changed.hashes[kept++] = hash;
    }
  }
  return changed;
}

/** Pages hashed per read of the saved pages: bounds the memory it takes. */
const HASH_BATCH_PAGES = 256;

/** The XXH64 of each page of `runs`, which `saved` holds, read a piece within one of its runs at a time. */
async function savedPageHashes({ runs: held, read }: SavedPages, runs: PageRun[]): Promise<BigUint64Array> {
  const hashes = new BigUint64Array(totalPages(runs));
  const scratch = Buffer.allocUnsafe(Math.min(HASH_BATCH_PAGES, hashes.length) * PAGE_SIZE);
  let h = 0; // held[h] is the first held run not ending before the current page
  let base = 0; // the page index of held[h] among all held pages
  let at = 0;
  for (const run of runs) {
    for (let start = run.start, left = run.pages; left > 0; ) {
      while (runEnd(held[h]!) <= start) base += held[h++]!.pages;
      const pages = Math.min(left, HASH_BATCH_PAGES, Number((runEnd(held[h]!) - start) / BigInt(PAGE_SIZE)));
      const first = base + Number((start - held[h]!.start) / BigInt(PAGE_SIZE));
      xxh64Pages(await read([{ start, pages }], first, scratch), hashes, at);
      [at, left, start] = [at + pages, left - pages, start + BigInt(pages * PAGE_SIZE)];
    }
  }
  return hashes;
}

function pagesOf(run: PageRun): bigint[] {
  return Array.from({ length: run.pages }, (_, i) => run.start + BigInt(i * PAGE_SIZE));
}

/** The `count` largest runs, in address order. */
function largest(runs: PageRun[], count: number): PageRun[] {
  if (runs.length <= count) return runs;
  return [...runs].sort((a, b) => b.pages - a.pages).slice(0, count).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

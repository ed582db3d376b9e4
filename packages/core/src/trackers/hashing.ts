import { PAGE_SIZE, readMemory, xxh64Pages } from "@cr/native";
import { planPages } from "../objects/memory.js";
import { intersectRuns, pushRun, runsToRanges, totalPages, type PageRun } from "../pages.js";
import type { DirtyResult, DirtyTracker, TrackContext } from "./tracker.js";

/** Pages read per process_vm_readv batch: bounds the memory the tracker holds at once. */
const BATCH_PAGES = 16384;

/**
 * Brute force that works on every kernel and across restarts: hash every present page and
 * compare with the hashes recorded in the parent image. Reads all memory: from a frozen copy
 * after the thaw where one is made (readsPages), else while the process is frozen; its state is
 * the hash of every page, kept in the image.
 */
export class HashingTracker implements DirtyTracker {
  readonly name = "hashing" as const;
  readonly readsPages = true;

  collectDirty(context: TrackContext): DirtyResult {
    const parent = context.parent?.state ? decodeHashes(context.parent.state) : null;
    const present = planPages(context.pid, context.vmas).data;
    const hashes = new BigUint64Array(totalPages(present));
    const same: PageRun[] = [];
    const lookup = parent ? new HashLookup(parent) : null;
    // One buffer for every batch: fresh memory costs a page fault a page (~14 us here).
    const buffer = Buffer.allocUnsafe(Math.min(BATCH_PAGES, hashes.length) * PAGE_SIZE);
    let index = 0;
    for (const batch of batches(present)) {
      const pages = buffer.subarray(0, totalPages(batch) * PAGE_SIZE);
      readMemory(context.pid, runsToRanges(batch), pages, true); // unpinned: context.pid may be a frozen copy (memory.ts copyPages)
      xxh64Pages(pages, hashes, index);
      for (const run of batch) {
        for (let p = 0; lookup && p < run.pages; p++) {
          const address = run.start + BigInt(p * PAGE_SIZE);
          if (lookup.get(address) === hashes[index + p]) pushRun(same, address, 1);
        }
        index += run.pages;
      }
    }
    const state = encodeHashes({ runs: present, hashes });
    // Equal hashes vouch for the bytes only where the parent really holds bytes.
    const unchanged = intersectRuns(same, context.parent?.dataRuns ?? []);
    return parent ? { unchanged, state: () => state } : { unchanged, state: () => state, allDirtyReason: context.parent ? "the parent image has no page hashes" : "no parent image" };
  }

  committed(): void {
    // The hashes travel in the image itself: nothing to record in the target.
  }
}

/** Pages and the XXH64 of each, in run order. */
export interface PageHashes {
  runs: PageRun[];
  hashes: BigUint64Array;
}

/** Candidate runs cut into batches of at most BATCH_PAGES pages. */
function* batches(runs: PageRun[]): Generator<PageRun[]> {
  let batch: PageRun[] = [];
  let pages = 0;
  for (const run of runs) {
    for (let p = 0; p < run.pages; ) {
      const take = Math.min(run.pages - p, BATCH_PAGES - pages);
      batch.push({ start: run.start + BigInt(p * PAGE_SIZE), pages: take });
      p += take;
      pages += take;
      if (pages === BATCH_PAGES) {
        yield batch;
        batch = [];
        pages = 0;
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/** Sequential lookup: snapshots visit addresses in ascending order. */
export class HashLookup {
  private run = 0;
  private base = 0;
  constructor(private readonly table: PageHashes) {}

  get(address: bigint): bigint | undefined {
    const { runs, hashes } = this.table;
    while (this.run < runs.length && runs[this.run]!.start + BigInt(runs[this.run]!.pages * PAGE_SIZE) <= address) {
      this.base += runs[this.run]!.pages;
      this.run++;
    }
    const run = runs[this.run];
    if (!run || address < run.start) return undefined;
    return hashes[this.base + Number((address - run.start) / BigInt(PAGE_SIZE))];
  }
}

// State layout, little-endian: u32 runCount, runCount x (u64 start, u32 pages), then one u64
// xxh64 per page in run order.
function encodeHashes({ runs, hashes }: PageHashes): Uint8Array {
  const out = Buffer.alloc(4 + runs.length * 12 + hashes.length * 8);
  out.writeUInt32LE(runs.length, 0);
  runs.forEach((run, i) => {
    out.writeBigUInt64LE(run.start, 4 + i * 12);
    out.writeUInt32LE(run.pages, 12 + i * 12);
  });
  Buffer.from(hashes.buffer, hashes.byteOffset, hashes.byteLength).copy(out, 4 + runs.length * 12);
  return out;
}

/** Parses hash state; a record that does not add up yields null (the image then counts as hashless). */
function decodeHashes(bytes: Uint8Array): PageHashes | null {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < 4) return null;
  const count = view.readUInt32LE(0);
  if (view.length < 4 + count * 12) return null;
  const runs: PageRun[] = [];
  for (let i = 0; i < count; i++) runs.push({ start: view.readBigUInt64LE(4 + i * 12), pages: view.readUInt32LE(12 + i * 12) });
  const pages = totalPages(runs);
  const start = 4 + count * 12;
  if (view.length !== start + pages * 8) return null;
  const hashes = new BigUint64Array(pages);
  Buffer.from(hashes.buffer).set(view.subarray(start));
  return { runs, hashes };
}

import { close, closeSync, fsync, linkSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { ImageReader, ImageWriter, mergeSortedMaps, PageCodec, RECORD_TYPE_NAMES, type PageMapEntry, type Reference, type RefRun } from "@cr/format";
import { linkTmpfile, openTmpfile } from "@cr/native";
import { CrError, errnoCode } from "./errors.js";
import { ChainBlocks } from "./chain-blocks.js";
import { withImageSink } from "./direct-io.js";
import { writePagesBlock } from "./checkpoint.js";
import { DIR_MODE, FILE_MODE, fsyncDir, hexIdentity, removeBranchDir, writeFileAtomic, type BranchMeta, type LogEntry, type Store } from "./store.js";

/**
 * Coalesce (docs/store.md): drop the oldest images of a branch. Every kept image whose parent
 * or referenced images change is written again as a new file under its own CRID: the oldest
 * kept image of a chain becomes full (every page it needs copied in), later ones keep their
 * own data and have their REFs pointed at the new locations. Unchanged images stay the same
 * file (hardlink). The new branch directory is built beside the old one and swapped in under
 * the store lock, so a killed coalesce leaves the old state or the new one.
 */
export interface CoalesceOptions {
  branch: string;
  /** This CRID becomes the oldest kept point of its chain (a full image). */
  upto?: bigint;
  /** Keep the last N images of every line of history (every leaf and its N-1 ancestors). */
  keepLast?: number;
  /** Bytes of page data copied so far, of an estimated total. */
  onProgress?: (done: number, total: number) => void;
}

export interface CoalesceResult {
  branch: string;
  kept: string[];
  removed: string[];
  /** Kept CRIDs written again as new files. */
  rewritten: string[];
  /** Bytes of the images written. */
  bytesWritten: number;
  /** Bytes of page data copied between images. */
  pageBytesCopied: number;
  ms: number;
}

/** Pages per PAGES block written by coalesce (as snapshots do). */
const BLOCK_PAGES = 256;

export async function coalesce(store: Store, options: CoalesceOptions): Promise<CoalesceResult> {
  const started = performance.now();
  return store.withLockAsync(async () => {
    store.recoverIfNeeded();
    const meta = store.branch(options.branch);
    const keep = choose(meta, options);
    const kept = meta.entries.filter((e) => keep.has(e.crid));
    const removed = meta.entries.filter((e) => !keep.has(e.crid)).map((e) => e.crid);
    const result: CoalesceResult = { branch: meta.name, kept: kept.map((e) => e.crid), removed, rewritten: [], bytesWritten: 0, pageBytesCopied: 0, ms: 0 };
    if (removed.length > 0) await rebuild(store, meta, keep, result, options.onProgress);
    result.ms = performance.now() - started;
    return result;
  });
}

/** Which CRIDs of the branch stay. */
function choose(meta: BranchMeta, options: CoalesceOptions): Set<string> {
  const byCrid = new Map(meta.entries.map((e) => [e.crid, e]));
  const parentOf = (crid: string) => {
    const p = byCrid.get(crid)?.parent;
    return p !== null && p !== undefined && byCrid.has(p) ? p : null;
  };
  if ((options.upto === undefined) === (options.keepLast === undefined)) {
    throw new CrError("coalesce needs exactly one of --upto CRID and --keep-last N", { code: "USAGE" });
  }
  const keep = new Set(byCrid.keys());
  if (options.upto !== undefined) {
    const crid = String(options.upto);
    if (!byCrid.has(crid)) throw new CrError(`no CRID ${crid} on branch "${meta.name}"`, { code: "BAD_CRID", crid: options.upto });
    for (let p = parentOf(crid); p !== null; p = parentOf(p)) keep.delete(p);
    return keep;
  }
  const n = options.keepLast!;
  if (!Number.isInteger(n) || n < 1) throw new CrError(`--keep-last must be a positive integer, got ${n}`, { code: "USAGE" });
  const hasChild = new Set(meta.entries.map((e) => parentOf(e.crid)).filter((p): p is string => p !== null));
  keep.clear();
  for (const e of meta.entries) {
    if (hasChild.has(e.crid)) continue;
    let c: string | null = e.crid;
    for (let i = 0; i < n && c !== null; i++, c = parentOf(c)) keep.add(c);
  }
  return keep;
}

/** Where some pages of an old block now are: pages [first, first+pages) are at newFirst.. of (crid, block). */
interface Relocation {
  first: number;
  pages: number;
  crid: bigint;
  block: number;
  newFirst: number;
}

/** The relocations of one old block, and for each of its pages the first one holding it (-1: none). */
interface MovedBlock {
  list: Relocation[];
  holder: Int32Array;
}

/** The relocation holding page `page` of a moved block, if any. */
function holderOf(moved: MovedBlock | undefined, page: number): Relocation | undefined {
  const index = moved?.holder[page] ?? -1;
  return index >= 0 ? moved!.list[index] : undefined;
}

/** Pages of an old block to copy into the new image as DATA. */
interface Copy {
  source: "copy";
  vaddr: bigint;
  pages: number;
  crid: bigint;
  block: number;
  first: number;
}

/** One piece of a new image's map: a final entry, or pages to copy in. */
type Planned = PageMapEntry | Copy;

const isCopy = (p: Planned): p is Copy => p.source === "copy";

class Rebuild {
  /** Old CRID -> old block -> where its pages went. */
  readonly relocations = new Map<bigint, Map<number, MovedBlock>>();
  readonly identities = new Map<bigint, bigint>();
  readonly rewritten = new Set<bigint>();
  private readonly kept: Set<bigint>;
  private readonly readers = new Map<bigint, ImageReader>();
  private readonly buffer: Buffer;
  /** fsyncs of written images still running on the pool (see syncLater). */
  private readonly syncs: Promise<void>[] = [];
  copied = 0;

  constructor(
    readonly store: Store,
    readonly meta: BranchMeta,
    keep: Set<string>,
    readonly pageSize: number,
  ) {
    this.kept = new Set([...keep].map(BigInt));
    this.buffer = Buffer.allocUnsafe(BLOCK_PAGES * pageSize);
  }

  /** The old image of a CRID of this branch, checked against the identity the branch recorded. */
  reader(crid: bigint): ImageReader {
    let r = this.readers.get(crid);
    if (!r) {
      const entry = this.meta.entries.find((e) => e.crid === String(crid));
      if (!entry) throw new CrError(`CRID ${crid}, referenced on branch "${this.meta.name}", is not in its history`, { code: "BAD_IMAGE", crid });
      r = this.store.openRecorded(this.meta.name, entry);
      this.readers.set(crid, r);
    }
    return r;
  }

  /** Whether a REF to `crid` stays valid as it is. */
  unchanged(crid: bigint): boolean {
    return this.kept.has(crid) && !this.rewritten.has(crid);
  }

  /** `old`'s map with every entry that must change turned into new REFs or copies (all of them when `full`). */
  plan(old: ImageReader, full: boolean): Planned[] {
    const crid = old.header.crid;
    const planned: Planned[] = [];
    // Per referenced CRID, looked up once: maps have tens of thousands of REFs to a few images.
    const targets = new Map<bigint, { unchanged: boolean; moved?: Map<number, MovedBlock> }>();
    for (const e of old.pageMap()) {
      if (e.source === "ref") {
        let target = targets.get(e.crid);
        if (!target) targets.set(e.crid, (target = full ? { unchanged: false } : { unchanged: this.unchanged(e.crid), moved: this.relocations.get(e.crid) }));
        if (target.unchanged) planned.push(e);
        else this.place(planned, e, target.moved?.get(e.block));
      } else if (e.source === "data") planned.push({ source: "copy", vaddr: e.vaddr, pages: e.pages, crid, block: e.block, first: e.firstPage });
      else planned.push(e);
    }
    return planned;
  }

  /** The pages of a REF to an old block, split into new REFs where `moved` has them and copies elsewhere. */
  private place(out: Planned[], { vaddr, crid, block, firstPage: first, pages }: RefRun, moved: MovedBlock | undefined): void {
    const end = first + pages;
    for (let p = first; p < end; ) {
      // Most entries stay one piece: no address arithmetic for them.
      const at = p === first ? vaddr : vaddr + BigInt((p - first) * this.pageSize);
      const hit = holderOf(moved, p);
      if (hit) {
        const n = Math.min(end, hit.first + hit.pages) - p;
        out.push({ source: "ref", vaddr: at, pages: n, crid: hit.crid, block: hit.block, firstPage: hit.newFirst + (p - hit.first) });
        p += n;
      } else {
        let next = p + 1;
        while (next < end && !holderOf(moved, next)) next++;
        out.push({ source: "copy", vaddr: at, pages: next - p, crid, block, first: p });
        p = next;
      }
    }
  }

  /** Every image the planned REFs point into, with its identity, in CRID order. */
  referencesOf(planned: Planned[]): Reference[] {
    const crids = new Set<bigint>();
    for (const p of planned) if (p.source === "ref") crids.add(p.crid);
    return [...crids].sort((a, b) => (a < b ? -1 : 1)).map((crid) => ({ crid, identity: this.identities.get(crid)! }));
  }

  /**
   * Writes `old`'s own blocks again whole, in order, each with the hash it was checked against
   * as it was read (no second hashing); returns the map, its DATA pointed at them. For an image
   * that keeps its parent and copies nothing else in: later images REF its blocks as they were.
   */
  async carryBlocks(writer: ImageWriter, old: ImageReader, planned: Planned[], progress: () => void): Promise<PageMapEntry[]> {
    const crid = old.header.crid;
    const own = [...new Set(planned.filter(isCopy).map((c) => c.block))];
    const moved = new Map<number, number>();
    const blocks = new ChainBlocks((c) => this.reader(c), own.map((block) => ({ crid, block })));
    try {
      for (const block of own) {
        const b = old.block(block);
        const data = await blocks.pages(crid, block, 0, b.pages);
        const at = b.codec === PageCodec.RAW ? await writer.writeCheckedPages(b.vaddr, data, b.bodyHash) : await writer.writePages(b.vaddr, data);
        moved.set(block, at);
        this.relocate(crid, block, 0, b.pages, crid, at, 0);
        this.copied += data.byteLength;
        progress();
      }
    } finally {
      await blocks.close();
    }
    return planned.map((p) => (isCopy(p) ? { source: "data", vaddr: p.vaddr, pages: p.pages, block: moved.get(p.block)!, firstPage: p.first } : p));
  }

  /** Writes the copies as new blocks of up to BLOCK_PAGES contiguous pages; returns the map entries. */
  async writeCopies(writer: ImageWriter, crid: bigint, copies: Copy[], progress: () => void): Promise<PageMapEntry[]> {
    const entries: PageMapEntry[] = [];
    const ps = this.pageSize;
    let fill = 0;
    let start = 0n;
    let pending: { from: Copy; skip: number; pages: number; at: number }[] = [];
    const flush = async () => {
      if (fill === 0) return;
      const block = await writePagesBlock(writer, start, this.buffer.subarray(0, fill * ps), "raw");
      entries.push({ source: "data", vaddr: start, pages: fill, block, firstPage: 0 });
      for (const piece of pending) this.relocate(piece.from.crid, piece.from.block, piece.from.first + piece.skip, piece.pages, crid, block, piece.at);
      this.copied += fill * ps;
      progress();
      fill = 0;
      pending = [];
    };
    const blocks = new ChainBlocks((c) => this.reader(c), copies);
    try {
      for (const c of copies) {
        let done = 0;
        while (done < c.pages) {
          const vaddr = c.vaddr + BigInt(done * ps);
          if (fill > 0 && (fill === BLOCK_PAGES || vaddr !== start + BigInt(fill * ps))) await flush();
          if (fill === 0) start = vaddr;
          const n = Math.min(c.pages - done, BLOCK_PAGES - fill);
          this.buffer.set(blocks.cachedPages(c.crid, c.block, c.first + done, n) ?? (await blocks.pages(c.crid, c.block, c.first + done, n)), fill * ps);
          pending.push({ from: c, skip: done, pages: n, at: fill });
          fill += n;
          done += n;
        }
      }
      await flush();
    } finally {
      await blocks.close();
    }
    return entries;
  }

  private relocate(crid: bigint, block: number, first: number, pages: number, newCrid: bigint, newBlock: number, newFirst: number): void {
    let byBlock = this.relocations.get(crid);
    if (!byBlock) this.relocations.set(crid, (byBlock = new Map()));
    let moved = byBlock.get(block);
    if (!moved) byBlock.set(block, (moved = { list: [], holder: new Int32Array(this.reader(crid).blockPages(block)!).fill(-1) }));
    const index = moved.list.push({ first, pages, crid: newCrid, block: newBlock, newFirst }) - 1;
    // The first relocation of a page keeps it: any of them holds the same bytes.
    for (let p = first; p < first + pages; p++) if (moved.holder[p] === -1) moved.holder[p] = index;
  }

  /**
   * Makes a written image durable on the pool while the next one is built, and closes `fd`;
   * `synced` must resolve before branch.json is written (then every image it lists is on disk).
   */
  syncLater(fd: number, what: string): void {
    // One after the other: more at once would take libuv's pool threads from the reads ahead.
    const previous = this.syncs[this.syncs.length - 1] ?? Promise.resolve();
    const syncing = previous.catch(() => undefined).then(() => syncAndClose(fd, what));
    // A failure surfaces in synced(); after an earlier failure, settle() only waits for it.
    syncing.catch(() => undefined);
    this.syncs.push(syncing);
  }

  async synced(): Promise<void> {
    await Promise.all(this.syncs);
  }

  /** Waits for every fsync still running (after a failure too: no descriptor is left open) and closes the readers. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.syncs);
    for (const r of this.readers.values()) r.close();
  }
}

async function rebuild(store: Store, meta: BranchMeta, keep: Set<string>, result: CoalesceResult, onProgress?: (done: number, total: number) => void): Promise<void> {
  const root = join(store.dir, "branches");
  const staged = join(root, `.${meta.name}.new`);
  rmSync(staged, { recursive: true, force: true });
  mkdirSync(staged, { mode: DIR_MODE });
  try {
    await stage(store, meta, keep, result, staged, onProgress);
  } catch (error) {
    // Refused (a damaged or replaced image, a full disk...): the branch is as it was, and nothing is left behind.
    rmSync(staged, { recursive: true, force: true });
    throw error;
  }
  const live = store.branchDir(meta.name);
  const old = join(root, `.${meta.name}.old`);
  renameSync(live, old);
  renameSync(staged, live);
  fsyncDir(root);
  await removeBranchDir(old);
}

/** Builds the coalesced branch in `staged`, branch.json last. */
async function stage(store: Store, meta: BranchMeta, keep: Set<string>, result: CoalesceResult, staged: string, onProgress?: (done: number, total: number) => void): Promise<void> {
  const kept = meta.entries.filter((e) => keep.has(e.crid)).sort((a, b) => (BigInt(a.crid) < BigInt(b.crid) ? -1 : 1));
  const first = store.openRecorded(meta.name, kept[0]!);
  const pageSize = first.header.pageSize;
  first.close();
  const work = new Rebuild(store, meta, keep, pageSize);
  const estimate = estimateCopy(work, kept);
  const newEntries = new Map<string, LogEntry>();
  try {
    for (const entry of kept) {
      const crid = BigInt(entry.crid);
      const old = work.reader(crid);
      const parent = old.header.parentCrid;
      const needs = (c: bigint) => !work.unchanged(c);
      const target = store.imagePath(meta.name, crid).replace(store.branchDir(meta.name), staged);
      if (!(parent !== 0n && needs(parent)) && !old.references.some((r) => needs(r.crid))) {
        linkSync(store.imagePath(meta.name, crid), target);
        work.identities.set(crid, old.identity);
        newEntries.set(entry.crid, { ...entry, identity: hexIdentity(old.identity) });
        continue;
      }
      const keepParent = parent !== 0n && keep.has(String(parent));
      const written = await rewriteImage(work, old, keepParent ? parent : 0n, target, () => onProgress?.(work.copied, estimate));
      work.rewritten.add(crid);
      work.identities.set(crid, written.identity);
      result.rewritten.push(entry.crid);
      result.bytesWritten += written.bytes;
      newEntries.set(entry.crid, { ...entry, parent: keepParent ? String(parent) : null, bytes: written.bytes, identity: hexIdentity(written.identity) });
    }
    await work.synced();
  } finally {
    await work.settle();
  }
  result.pageBytesCopied = work.copied;
  const heads = Object.fromEntries(Object.entries(meta.heads).filter(([, crid]) => keep.has(crid)));
  const next: BranchMeta = { ...meta, entries: meta.entries.filter((e) => keep.has(e.crid)).map((e) => newEntries.get(e.crid)!), heads };
  // branch.json last: a staged directory holding it is complete (recovery rolls it forward).
  writeFileAtomic(join(staged, "branch.json"), `${JSON.stringify(next, null, 2)}\n`);
  fsyncDir(staged);
}

/** Page bytes a coalesce will copy at most: the DATA of rewritten images plus what they reference. */
function estimateCopy(work: Rebuild, kept: LogEntry[]): number {
  let total = 0;
  for (const e of kept.slice(0, 1)) {
    for (const m of work.reader(BigInt(e.crid)).pageMap()) if (m.source === "data" || m.source === "ref") total += m.pages * work.pageSize;
  }
  for (const e of kept.slice(1)) total += e.dirtyPages * work.pageSize;
  return Math.max(total, 1);
}

/** Writes `old` again as a new file at `target`, with parent `parent` (0n: a full image). */
async function rewriteImage(work: Rebuild, old: ImageReader, parent: bigint, target: string, progress: () => void): Promise<{ identity: bigint; bytes: number }> {
  const full = parent === 0n;
  const crid = old.header.crid;
  const planned = work.plan(old, full);
  const copies = planned.filter(isCopy);
  const carry = !full && copies.every((c) => c.crid === crid);
  const h = old.header;
  const fd = openTmpfile(dirname(target), FILE_MODE);
  try {
    const dataBytes = copies.reduce((sum, c) => sum + c.pages * work.pageSize, 0);
    const done = await withImageSink(fd, target, dataBytes, async (sink) => {
      const writer = new ImageWriter(sink, {
        header: {
          crid,
          parentCrid: parent,
          parentIdentity: full ? 0n : work.identities.get(parent)!,
          pageSize: h.pageSize,
          arch: h.arch,
          kernelRelease: h.kernelRelease,
          createdMs: h.createdMs,
          toolVersion: h.toolVersion,
        },
        references: work.referencesOf(planned),
      });
      for (const type of RECORD_TYPE_NAMES) for (const record of old.records(type)) await writer.writeRecord(type, record);
      const map = carry
        ? await work.carryBlocks(writer, old, planned, progress)
        : mergeSortedMaps(
            planned.filter((p): p is PageMapEntry => !isCopy(p)),
            await work.writeCopies(writer, crid, copies, progress),
          );
      await writer.writePageMap(map);
      return writer.finish();
    });
    // Linked now, durable before branch.json is written (syncLater): the staged directory is complete only then.
    linkTmpfile(fd, target);
    work.syncLater(fd, target);
    return done;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function syncAndClose(fd: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fsync(fd, (error) =>
      close(fd, (closeError) => {
        const failure = error ?? closeError;
        if (failure) reject(new CrError(`cannot sync ${what}: ${failure.message}`, { code: errnoCode(failure) ?? "EIO", path: what, cause: failure }));
        else resolve();
      }),
    );
  });
}

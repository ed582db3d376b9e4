import { close, closeSync, fsync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ColumnsBuilder, type Header, holdsBytes, type ImageHeaderInput, ImageReader, type ImageSection, ImageWriter, mergeColumns, PageCodec, type PageColumns, pagesWhere, PageSource, RECORD_TYPE_NAMES, type Reference } from "@cr/format";
import { lz4Compress } from "@cr/native";
import { CrError, errnoCode } from "./errors.js";
import { blockUses, ChainBlocks } from "./store/chain-blocks.js";
import { withImageSink } from "./store/direct-io.js";
import { writeRawBlock } from "./checkpoint.js";
import type { OnProgress } from "./progress.js";
import type { StoreDir } from "./store/store-fs.js";
import { hexIdentity, writeBranchIn, type BranchMeta, type LogEntry, type Store } from "./store/store.js";
import { openRecorded } from "./store/store-images.js";

/**
 * Coalesce (docs/store.md): drop the oldest images of a branch. Every kept image whose parent
 * or referenced images change is written again as a new file under its own CRID: the oldest
 * kept image of a chain becomes full (every page it needs copied in), later ones keep their
 * own data and have their REFs pointed at the new locations. Unchanged images stay the same
 * file (hardlink). The new branch directory is built beside the old one and swapped in under
 * the store lock, so a killed coalesce leaves the old state or the new one.
 *
 * An image of a process tree is rewritten section by section, under the same PROCESS_TABLE:
 * each process's map is complete (its REFs name the very blocks holding its bytes, whichever
 * image and section wrote them), so it is rewritten from itself alone, and the same process in
 * older images is reached through those REFs: one absent from them has none into them.
 */
export interface CoalesceOptions {
  branch: string;
  /** This CRID becomes the oldest kept point of its chain (a full image). */
  upto?: bigint;
  /** Keep the last N images of every line of history (every leaf and its N-1 ancestors). */
  keepLast?: number;
  /** Bytes of page data copied so far, of an estimated total (at most), once per block. */
  onProgress?: OnProgress;
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

/**
 * A planned entry whose pages are copied into the new image as DATA, from (holder, block,
 * firstPage) of an old image: a source code beside PageSource's four.
 */
const COPY = 0;

/** A new image's map as planned: columns whose holder indexes name `holders` (pagemap-columns.ts). */
interface Plan {
  map: PageColumns;
  holders: Holders;
}

/** The CRIDs a new image's map names, each given a holder index once. */
class Holders {
  readonly list: bigint[] = [];
  private readonly index = new Map<bigint, number>();

  of(crid: bigint): number {
    let i = this.index.get(crid);
    if (i === undefined) this.index.set(crid, (i = this.list.push(crid) - 1));
    return i;
  }
}

/** An image old REFs point into: whether they stay as they are (then their new holder index), else where its blocks went. */
interface Target {
  crid: bigint;
  unchanged: boolean;
  holder: number;
  moved?: Map<number, MovedBlock>;
}

/** The COPY entries of a plan as the blocks they read, in order. */
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
      r = openRecorded(this.store, this.meta.name, entry);
      this.readers.set(crid, r);
    }
    return r;
  }

  /** Whether a REF to `crid` stays valid as it is. */
  unchanged(crid: bigint): boolean {
    return this.kept.has(crid) && !this.rewritten.has(crid);
  }

  /** `section`'s map with every entry that must change turned into new REFs or copies (all of them when `full`). */
  plan(section: ImageSection, full: boolean): Plan {
    const old = section.image;
    const crid = old.header.crid;
    const map = section.pageColumns();
    const oldHolders = old.holderCrids;
    const holders = new Holders();
    const out = new ColumnsBuilder(map.length);
    // Per old holder, looked up once: maps have tens of thousands of REFs to a few images.
    const targets: (Target | undefined)[] = [];
    for (let i = 0; i < map.length; i++) {
      const source = map.source[i]!;
      if (source === PageSource.REF) {
        const h = map.holder[i]!;
        const target = (targets[h] ??= this.target(oldHolders[h]!, full, holders));
        if (target.unchanged) out.push(PageSource.REF, map.first[i]!, map.pages[i]!, target.holder, map.block[i]!, map.firstPage[i]!);
        else this.place(out, holders, map, i, target);
      } else if (source === PageSource.DATA) out.push(COPY, map.first[i]!, map.pages[i]!, holders.of(crid), map.block[i]!, map.firstPage[i]!);
      else out.pushSlice(map, i, 0, map.pages[i]!);
    }
    return { map: out.finish(), holders };
  }

  /** What becomes of REFs to `crid` (every one is copied when `full`). */
  private target(crid: bigint, full: boolean, holders: Holders): Target {
    const unchanged = !full && this.unchanged(crid);
    return { crid, unchanged, holder: unchanged ? holders.of(crid) : -1, moved: full ? undefined : this.relocations.get(crid) };
  }

  /** The pages of REF i to an old block, split into new REFs where `moved` has them and copies elsewhere. */
  private place(out: ColumnsBuilder, holders: Holders, map: PageColumns, i: number, target: Target): void {
    const block = map.block[i]!;
    const moved = target.moved?.get(block);
    const first = map.firstPage[i]!;
    const end = first + map.pages[i]!;
    const at = (p: number) => map.first[i]! + (p - first);
    for (let p = first; p < end; ) {
      const hit = holderOf(moved, p);
      if (hit) {
        const n = Math.min(end, hit.first + hit.pages) - p;
        out.push(PageSource.REF, at(p), n, holders.of(hit.crid), hit.block, hit.newFirst + (p - hit.first));
        p += n;
      } else {
        let next = p + 1;
        while (next < end && !holderOf(moved, next)) next++;
        out.push(COPY, at(p), next - p, holders.of(target.crid), block, p);
        p = next;
      }
    }
  }

  /** Every image the planned REFs (of every section) point into, with its identity, in CRID order. */
  referencesOf(plans: Plan[]): Reference[] {
    const used = new Set<bigint>();
    for (const { map, holders } of plans) for (let i = 0; i < map.length; i++) if (map.source[i] === PageSource.REF) used.add(holders.list[map.holder[i]!]!);
    return [...used].sort((a, b) => (a < b ? -1 : 1)).map((crid) => ({ crid, identity: this.identities.get(crid)! }));
  }

  /**
   * Writes `old`'s own blocks again whole, in order, each with the hash it was checked against
   * as it was read (no second hashing); returns the map, its copies now DATA in them. For an
   * image that keeps its parent and copies nothing else in: later images REF its blocks as they were.
   * `moved`: old block -> new, of the image's sections written before (a block another section
   * wrote already is named, not written again).
   */
  async carryBlocks(writer: ImageWriter, old: ImageReader, plan: Plan, moved: Map<number, number>, progress: () => void): Promise<PageColumns> {
    const crid = old.header.crid;
    const own = [...new Set([...blockUses(plan.map, plan.holders.list, (source) => source === COPY)].map((u) => u.block))].filter((block) => !moved.has(block));
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
    const { map } = plan;
    const out = new ColumnsBuilder(map.length);
    for (let i = 0; i < map.length; i++) {
      if (map.source[i] === COPY) out.push(PageSource.DATA, map.first[i]!, map.pages[i]!, 0, moved.get(map.block[i]!)!, map.firstPage[i]!);
      else out.pushSlice(map, i, 0, map.pages[i]!);
    }
    return out.finish();
  }

  /**
   * Writes the copies as new blocks of up to BLOCK_PAGES contiguous pages; returns the map:
   * the plan's other entries and the new DATA, in order.
   */
  async writeCopies(writer: ImageWriter, crid: bigint, plan: Plan, progress: () => void): Promise<PageColumns> {
    const { map, holders } = plan;
    const data = new ColumnsBuilder();
    let fill = 0;
    let start = 0; // page number of the buffer's first page
    let pending: { crid: bigint; block: number; first: number; pages: number; at: number }[] = [];
    const flush = async () => {
      if (fill === 0) return;
      const block = await writeRawBlock(writer, BigInt(start * this.pageSize), this.buffer.subarray(0, fill * this.pageSize));
      data.push(PageSource.DATA, start, fill, 0, block, 0);
      for (const piece of pending) this.relocate(piece.crid, piece.block, piece.first, piece.pages, crid, block, piece.at);
      this.copied += fill * this.pageSize;
      progress();
      fill = 0;
      pending = [];
    };
    const others = new ColumnsBuilder(map.length);
    const blocks = new ChainBlocks((c) => this.reader(c), blockUses(plan.map, plan.holders.list, (source) => source === COPY));
    try {
      for (let i = 0; i < map.length; i++) {
        if (map.source[i] !== COPY) {
          others.pushSlice(map, i, 0, map.pages[i]!);
          continue;
        }
        const from = holders.list[map.holder[i]!]!;
        const block = map.block[i]!;
        const pages = map.pages[i]!;
        for (let done = 0; done < pages; ) {
          const page = map.first[i]! + done;
          if (fill > 0 && (fill === BLOCK_PAGES || page !== start + fill)) await flush();
          if (fill === 0) start = page;
          const n = Math.min(pages - done, BLOCK_PAGES - fill);
          const first = map.firstPage[i]! + done;
          this.buffer.set(blocks.cachedPages(from, block, first, n) ?? (await blocks.pages(from, block, first, n)), fill * this.pageSize);
          pending.push({ crid: from, block, first, pages: n, at: fill });
          fill += n;
          done += n;
        }
      }
      await flush();
    } finally {
      await blocks.close();
    }
    return mergeColumns(others.finish(), data.finish());
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

async function rebuild(store: Store, meta: BranchMeta, keep: Set<string>, result: CoalesceResult, onProgress?: OnProgress): Promise<void> {
  const branches = store.branches;
  const staged = `.${meta.name}.new`;
  const old = `.${meta.name}.old`;
  branches.remove(staged);
  const dir = branches.dir(staged, true);
  try {
    await stage(store, meta, keep, result, dir, onProgress);
  } catch (error) {
    // Refused (a damaged or replaced image, a full disk...): the branch is as it was, and nothing is left behind.
    branches.remove(staged);
    throw error;
  } finally {
    dir.close();
  }
  branches.rename(meta.name, old);
  branches.rename(staged, meta.name);
  branches.sync();
  await branches.removeAsync(old);
}

/** Builds the coalesced branch in `staged`, branch.json last. */
async function stage(store: Store, meta: BranchMeta, keep: Set<string>, result: CoalesceResult, staged: StoreDir, onProgress?: OnProgress): Promise<void> {
  const kept = meta.entries.filter((e) => keep.has(e.crid)).sort((a, b) => (BigInt(a.crid) < BigInt(b.crid) ? -1 : 1));
  const first = openRecorded(store, meta.name, kept[0]!);
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
      const name = `${crid}.crimg`;
      if (!(parent !== 0n && needs(parent)) && !old.references.some((r) => needs(r.crid))) {
        store.inBranch(meta.name, (live) => live.link(name, staged));
        work.identities.set(crid, old.identity);
        newEntries.set(entry.crid, { ...entry, identity: hexIdentity(old.identity) });
        continue;
      }
      const keepParent = parent !== 0n && keep.has(String(parent));
      const written = await rewriteImage(work, old, keepParent ? parent : 0n, staged, name, () => onProgress?.(work.copied, estimate, "copying blocks"));
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
  const restarted = Object.fromEntries(Object.entries(meta.restarted ?? {}).filter(([key]) => heads[key] !== undefined));
  const next: BranchMeta = { ...meta, entries: meta.entries.filter((e) => keep.has(e.crid)).map((e) => newEntries.get(e.crid)!), heads, restarted };
  // branch.json last (the directory synced with it): a staged directory holding it is complete (recovery rolls it forward).
  writeBranchIn(staged, next);
}

/** Page bytes a coalesce will copy at most: the DATA of rewritten images plus what they reference. */
function estimateCopy(work: Rebuild, kept: LogEntry[]): number {
  let total = 0;
  for (const e of kept.slice(0, 1)) for (const s of work.reader(BigInt(e.crid)).sections()) total += pagesWhere(s.pageColumns(), holdsBytes) * work.pageSize;
  for (const e of kept.slice(1)) total += e.dirtyPages * work.pageSize;
  return Math.max(total, 1);
}

/** Writes `old` again as a new file `name` in `dir`, with parent `parent` (0n: a full image). */
async function rewriteImage(work: Rebuild, old: ImageReader, parent: bigint, dir: StoreDir, name: string, progress: () => void): Promise<{ identity: bigint; bytes: number }> {
  const full = parent === 0n;
  const sections = old.sections();
  const plans = sections.map((section) => work.plan(section, full));
  const table = old.processTable();
  const target = join(dir.path, name);
  const fd = dir.tmpfile();
  try {
    const dataBytes = plans.reduce((n, plan) => n + pagesWhere(plan.map, (source) => source === COPY), 0) * work.pageSize;
    const done = await withImageSink(fd, target, dataBytes, async (sink) => {
      const writer = new ImageWriter(sink, { header: rewrittenHeader(work, old.header, parent), references: work.referencesOf(plans), ...(table ? { processTable: table } : {}), compress: lz4Compress });
      await writeSections(work, writer, sections, plans, full, progress);
      return writer.finish();
    });
    // Linked now, durable before branch.json is written (syncLater): the staged directory is complete only then.
    dir.linkTmpfile(fd, name);
    work.syncLater(fd, target);
    return done;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The HEADER of a rewritten image: the old one's, with parent `parent` (0n: full). */
function rewrittenHeader(work: Rebuild, h: Header, parent: bigint): ImageHeaderInput {
  const { crid, pageSize, arch, kernelRelease, createdMs, toolVersion } = h;
  return { crid, parentCrid: parent, parentIdentity: parent === 0n ? 0n : work.identities.get(parent)!, pageSize, arch, kernelRelease, createdMs, toolVersion };
}

/**
 * Each section of the old image again (one for an image of one process): its records, its
 * blocks, its map as planned. An image that only copies its own blocks carries them over whole.
 */
async function writeSections(work: Rebuild, writer: ImageWriter, sections: ImageSection[], plans: Plan[], full: boolean, progress: () => void): Promise<void> {
  const old = sections[0]!.image;
  const crid = old.header.crid;
  const carry = !full && plans.every((plan) => blockUses(plan.map, plan.holders.list, (source) => source === COPY).every((u) => u.crid === crid));
  const carried = new Map<number, number>();
  for (const [i, section] of sections.entries()) {
    const member = section.record("MEMBER");
    if (member) await writer.beginMember(member.pid);
    for (const type of RECORD_TYPE_NAMES) for (const record of section.records(type)) await writer.writeRecord(type, record);
    const plan = plans[i]!;
    const map = carry ? await work.carryBlocks(writer, old, plan, carried, progress) : await work.writeCopies(writer, crid, plan, progress);
    await writer.writePageMapColumns(map, plan.holders.list);
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

import { closeSync, fsyncSync, linkSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ImageReader, ImageWriter, RECORD_TYPE_NAMES, type PageMapEntry, type Reference } from "@cr/format";
import { linkTmpfile, openTmpfile } from "@cr/native";
import { CrError } from "./errors.js";
import { ChainBlocks } from "./chain-blocks.js";
import { withImageSink } from "./direct-io.js";
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

/** Where pages of an old block now are: (crid, block) -> ranges of its pages. */
interface Relocation {
  first: number;
  pages: number;
  crid: bigint;
  block: number;
  newFirst: number;
}

/** One piece of a new image's map: a final entry, or pages to copy in as DATA. */
type Planned = { kind: "entry"; entry: PageMapEntry } | { kind: "copy"; vaddr: bigint; pages: number; crid: bigint; block: number; first: number };

class Rebuild {
  readonly relocations = new Map<string, Relocation[]>();
  readonly identities = new Map<bigint, bigint>();
  readonly rewritten = new Set<bigint>();
  private readonly readers = new Map<bigint, ImageReader>();
  private readonly buffer: Buffer;
  copied = 0;

  constructor(
    readonly store: Store,
    readonly meta: BranchMeta,
    readonly keep: Set<string>,
    readonly pageSize: number,
  ) {
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
    return this.keep.has(String(crid)) && !this.rewritten.has(crid);
  }

  /** The pages [first, first+pages) of an old block, split into new REFs where relocated and copies elsewhere. */
  place(out: Planned[], vaddr: bigint, crid: bigint, block: number, first: number, pages: number, full: boolean): void {
    const ranges = full ? [] : (this.relocations.get(`${crid}:${block}`) ?? []);
    let p = first;
    const end = first + pages;
    const ps = BigInt(this.pageSize);
    const at = (page: number) => vaddr + BigInt(page - first) * ps;
    while (p < end) {
      const hit = ranges.find((r) => r.first <= p && p < r.first + r.pages);
      if (hit) {
        const n = Math.min(end, hit.first + hit.pages) - p;
        out.push({ kind: "entry", entry: { source: "ref", vaddr: at(p), pages: n, crid: hit.crid, block: hit.block, firstPage: hit.newFirst + (p - hit.first) } });
        p += n;
        continue;
      }
      const next = ranges.filter((r) => r.first > p).reduce((m, r) => Math.min(m, r.first), end);
      out.push({ kind: "copy", vaddr: at(p), pages: next - p, crid, block, first: p });
      p = next;
    }
  }

  /** Writes the copies as new blocks of up to BLOCK_PAGES contiguous pages; returns the map entries. */
  async writeCopies(writer: ImageWriter, crid: bigint, copies: Extract<Planned, { kind: "copy" }>[], progress: () => void): Promise<PageMapEntry[]> {
    const entries: PageMapEntry[] = [];
    const ps = this.pageSize;
    let fill = 0;
    let start = 0n;
    let pending: { from: Extract<Planned, { kind: "copy" }>; skip: number; pages: number; at: number }[] = [];
    const flush = async () => {
      if (fill === 0) return;
      const block = await writer.writePages(start, this.buffer.subarray(0, fill * ps));
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
          this.buffer.set(await blocks.pages(c.crid, c.block, c.first + done, n), fill * ps);
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
    const key = `${crid}:${block}`;
    const list = this.relocations.get(key) ?? [];
    list.push({ first, pages, crid: newCrid, block: newBlock, newFirst });
    this.relocations.set(key, list);
  }

  close(): void {
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
  } finally {
    work.close();
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
  const planned: Planned[] = [];
  for (const e of old.pageMap()) {
    if (e.source === "zero" || e.source === "file") planned.push({ kind: "entry", entry: e });
    else if (e.source === "data") planned.push({ kind: "copy", vaddr: e.vaddr, pages: e.pages, crid, block: e.block, first: e.firstPage });
    else if (!full && work.unchanged(e.crid)) planned.push({ kind: "entry", entry: e });
    else work.place(planned, e.vaddr, e.crid, e.block, e.firstPage, e.pages, full);
  }
  const references: Reference[] = [];
  for (const p of planned) {
    if (p.kind !== "entry" || p.entry.source !== "ref") continue;
    const c = p.entry.crid;
    if (!references.some((r) => r.crid === c)) references.push({ crid: c, identity: work.identities.get(c)! });
  }
  references.sort((a, b) => (a.crid < b.crid ? -1 : 1));
  const h = old.header;
  const dir = target.slice(0, target.lastIndexOf("/"));
  const fd = openTmpfile(dir, FILE_MODE);
  const copies = planned.filter((p): p is Extract<Planned, { kind: "copy" }> => p.kind === "copy");
  const dataBytes = copies.reduce((sum, c) => sum + c.pages * work.pageSize, 0);
  try {
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
        references,
      });
      for (const type of RECORD_TYPE_NAMES) for (const record of old.records(type)) await writer.writeRecord(type, record);
      const data = await work.writeCopies(writer, crid, copies, progress);
      const kept = planned.filter((p): p is Extract<Planned, { kind: "entry" }> => p.kind === "entry").map((p) => p.entry);
      const map = [...kept, ...data].sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
      await writer.writePageMap(map);
      return writer.finish();
    });
    fsyncSync(fd);
    linkTmpfile(fd, target);
    return done;
  } finally {
    closeSync(fd);
  }
}

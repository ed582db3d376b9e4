import { closeSync } from "node:fs";
import { PAGE_SIZE } from "@cr/native";
import { derivePageMap, ImageReader, ImageWriter, referencedCrids, resolveChain, resolvedRuns, xxh64, type PageMapEntry } from "@cr/format";
import type { LogEntry, Store } from "./store/store.js";
import { writeData } from "./checkpoint.js";
import { withImageSink } from "./store/direct-io.js";
import type { PageRun } from "./pages.js";
import { TOOL_VERSION } from "./version.js";
import { openImage, commitImage } from "./store/store-images.js";

/**
 * For tests and benchmarks: chains of images written through the store exactly as snapshots
 * commit them (CRIDs, O_TMPFILE, branch history, REFs inherited from the parent, scattered
 * pages packed into full blocks by the snapshot's own writeData), with page
 * contents known in advance, so no process is needed to get a 100-image chain over 1 GiB.
 */
export interface SyntheticChainOptions {
  branch: string;
  /** Pages of the one memory region. */
  pages: number;
  /** Images: the first full, the rest incremental. */
  images: number;
  /** Pages written between two images. */
  dirtyPerImage: number;
  /** Distinguishes the processes of one store (their processKey and contents). */
  seed?: number;
  /** Continue from this CRID of the branch instead of starting with a full image. */
  parent?: bigint;
}

const PAGE = PAGE_SIZE;
export const SYNTHETIC_BASE = 0x7f0000000000n;

/** Writes the chain; returns the CRIDs in order. */
export async function syntheticChain(store: Store, o: SyntheticChainOptions): Promise<bigint[]> {
  const crids: bigint[] = [];
  const seed = o.seed ?? 1;
  let parent: { crid: bigint; identity: bigint; map: PageMapEntry[]; refs: Map<bigint, bigint> } | null = null;
  if (o.parent !== undefined) {
    const r = openImage(store, o.branch, o.parent);
    parent = { crid: o.parent, identity: r.identity, map: r.pageMap(), refs: new Map(r.references.map((x) => [x.crid, x.identity])) };
    r.close();
  }
  let state = Math.imul(seed, 2654435761) >>> 0;
  // Math.imul: a plain product of two 32-bit numbers loses low bits in a double and the
  // sequence collapses into a short cycle.
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 8;
  };
  for (let i = 0; i < o.images; i++) {
    const crid = store.allocateCrid();
    const dirty = parent === null ? [...Array(o.pages).keys()] : pickPages(o.pages, o.dirtyPerImage, random);
    const fd = store.createImageFile(o.branch);
    try {
      const runs: PageRun[] = toRuns(dirty).map(([start, count]) => ({ start: SYNTHETIC_BASE + BigInt(start * PAGE), pages: count }));
      const map0 = parent ? derivePageMap({ parent: parent.map, parentCrid: parent.crid, pageSize: PAGE, changes: runs.map((r) => ({ source: "zero", vaddr: r.start, pages: r.pages })) }) : [];
      const refs = new Map(parent?.refs ?? []);
      if (parent) refs.set(parent.crid, parent.identity);
      const references = referencedCrids(map0).map((c) => ({ crid: c, identity: refs.get(c)! }));
      let map: PageMapEntry[] = [];
      const done = await withImageSink(fd, store.imagePath(o.branch, crid), dirty.length * PAGE, async (sink) => {
        const writer = new ImageWriter(sink, {
          header: { crid, parentCrid: parent?.crid ?? 0n, parentIdentity: parent?.identity ?? 0n, pageSize: PAGE, arch: "x86_64", toolVersion: TOOL_VERSION },
          references,
        });
        const changes = await writeData(writer, runs, async (blockRuns, _first, into) => fillRuns(into, blockRuns, seed, crid), "raw");
        map = parent ? derivePageMap({ parent: parent.map, parentCrid: parent.crid, pageSize: PAGE, changes }) : changes;
        await writer.writePageMap(map);
        return writer.finish();
      });
      const entry: LogEntry = {
        crid: String(crid),
        parent: parent ? String(parent.crid) : null,
        time: new Date().toISOString(),
        bytes: done.bytes,
        dirtyPages: dirty.length,
        downtimeMs: 0,
        totalMs: 0,
        tracker: "synthetic",
        pid: 0,
        processKey: `synthetic:${seed}`,
      };
      commitImage(store, o.branch, fd, entry);
      const nextRefs = new Map(references.map((r) => [r.crid, r.identity]));
      parent = { crid, identity: done.identity, map, refs: nextRefs };
      crids.push(crid);
    } finally {
      closeSync(fd);
    }
  }
  return crids;
}

function fillPage(page: Buffer, seed: number, crid: bigint, index: number): void {
  const word = (Number(crid & 0xffffn) * 65537 + index * 31 + seed * 7919) >>> 0;
  for (let off = 0; off < PAGE; off += 4) page.writeUInt32LE((word + off * 2654435761) >>> 0, off);
}

/** The synthetic bytes of `runs`' pages, one after the other, in `buffer`. */
function fillRuns(buffer: Buffer, runs: PageRun[], seed: number, crid: bigint): Buffer {
  let at = 0;
  for (const r of runs) {
    const first = Number((r.start - SYNTHETIC_BASE) / BigInt(PAGE));
    for (let p = 0; p < r.pages; p++, at += PAGE) fillPage(buffer.subarray(at, at + PAGE), seed, crid, first + p);
  }
  return buffer.subarray(0, at);
}

function pickPages(total: number, count: number, random: () => number): number[] {
  const set = new Set<number>();
  // Clustered writes, like real programs: runs of up to 16 pages.
  while (set.size < Math.min(count, total)) {
    const start = random() % total;
    const len = 1 + (random() % 16);
    for (let p = start; p < Math.min(total, start + len) && set.size < count; p++) set.add(p);
  }
  return [...set].sort((a, b) => a - b);
}

function toRuns(pages: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const p of pages) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === p) last[1]++;
    else runs.push([p, 1]);
  }
  return runs;
}

/**
 * A digest of the memory a checkpoint resolves to: xxh64 over every page's address and the
 * xxh64 of its bytes, and every zero or file run (REFs followed through the branch's images).
 * Equal digests = the same memory. Each block is read once, however its runs interleave.
 * `section`: the process of a tree image (0, the root).
 */
export async function memoryDigest(store: Store, branch: string, crid: bigint, section = 0): Promise<string> {
  const readers = new Map<bigint, ImageReader>();
  const open = (c: bigint) => {
    let r = readers.get(c);
    if (!r) readers.set(c, (r = openImage(store, branch, c)));
    return r;
  };
  try {
    const runs = resolvedRuns(await resolveChain(crid, open, section));
    const others: string[] = [];
    const byBlock = new Map<string, { crid: bigint; block: number; runs: { vaddr: bigint; firstPage: number; pages: number; at: number }[] }>();
    let at = 0;
    for (const run of runs) {
      if (run.source !== "ref") {
        others.push(`${run.vaddr}:${run.source}:${run.pages}`);
        continue;
      }
      const key = `${run.crid}:${run.block}`;
      let group = byBlock.get(key);
      if (!group) byBlock.set(key, (group = { crid: run.crid, block: run.block, runs: [] }));
      group.runs.push({ vaddr: run.vaddr, firstPage: run.firstPage, pages: run.pages, at });
      at += run.pages;
    }
    const pages = new BigUint64Array(2 * at); // (address, hash of the bytes) in address order
    for (const { crid: c, block, runs: inBlock } of byBlock.values()) {
      const bytes = open(c).readBlock(block);
      for (const r of inBlock) {
        for (let p = 0; p < r.pages; p++) {
          const from = (r.firstPage + p) * PAGE;
          pages[2 * (r.at + p)] = r.vaddr + BigInt(p * PAGE);
          pages[2 * (r.at + p) + 1] = xxh64(bytes.subarray(from, from + PAGE));
        }
      }
    }
    return xxh64(Buffer.concat([Buffer.from(pages.buffer), Buffer.from(others.join("\n"))])).toString(16);
  } finally {
    for (const r of readers.values()) r.close();
  }
}

/**
 * The page map: for every run of pages of the process, where its bytes are. DATA in a PAGES
 * block of this image, REF to a PAGES block of an earlier image (never to another map),
 * ZERO, or FILE (read from the file of the VMA covering the run).
 */

export const PageSource = { DATA: 1, REF: 2, ZERO: 3, FILE: 4 } as const;

interface Run {
  /** First virtual address (page aligned). */
  vaddr: bigint;
  /** Number of pages (>= 1). */
  pages: number;
}
export interface DataRun extends Run {
  source: "data";
  /** Offset of the PAGES chunk in this image. */
  block: number;
  /** Index of the run's first page within that block. */
  firstPage: number;
}
export interface RefRun extends Run {
  source: "ref";
  /** CRID of the earlier image holding the bytes (listed in REFERENCES). */
  crid: bigint;
  /** Offset of the PAGES chunk in that image. */
  block: number;
  firstPage: number;
}
export interface ZeroRun extends Run {
  source: "zero";
}
export interface FileRun extends Run {
  source: "file";
  /** Byte offset in the file of the VMA covering vaddr. */
  fileOffset: number;
}
export type PageMapEntry = DataRun | RefRun | ZeroRun | FileRun;

/**
 * Checks that entries are page aligned, ascending and non-overlapping. Returns the index of
 * the first bad entry and why, or undefined.
 */
export function checkMapOrder(entries: readonly PageMapEntry[], pageSize: number): { index: number; why: string } | undefined {
  const ps = BigInt(pageSize);
  const offsetMask = ps - 1n;
  let end = 0n;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if ((e.vaddr & offsetMask) !== 0n) return { index: i, why: `page-aligned vaddr, found 0x${e.vaddr.toString(16)}` };
    if (e.vaddr < end) return { index: i, why: `entries ascending and disjoint (0x${e.vaddr.toString(16)} overlaps the previous run)` };
    end = e.vaddr + BigInt(e.pages) * ps;
    if (end > ADDRESS_SPACE_END) return { index: i, why: "run within the 64-bit address space" };
  }
  return undefined;
}

const ADDRESS_SPACE_END = 1n << 64n;

/**
 * The entry as the child of `parentCrid` sees it: data in the parent becomes a REF to where
 * the parent's bytes really are; REF, ZERO and FILE stay as they are (the same object: entries
 * are values, never changed in place, and a deep chain's map is mostly REFs).
 */
export function inheritEntry(e: PageMapEntry, parentCrid: bigint): PageMapEntry {
  if (e.source === "data") {
    return { vaddr: e.vaddr, pages: e.pages, source: "ref", crid: parentCrid, block: e.block, firstPage: e.firstPage };
  }
  return e;
}

/** Pages [skip, skip+count) of an entry, as an entry of its own. */
export function sliceEntry(e: PageMapEntry, skip: number, count: number, pageSize: number): PageMapEntry {
  if (skip < 0 || count < 1 || skip + count > e.pages) throw new RangeError(`slice ${skip}+${count} of a ${e.pages}-page run`);
  const vaddr = e.vaddr + BigInt(skip) * BigInt(pageSize);
  switch (e.source) {
    case "data":
      return { ...e, vaddr, pages: count, firstPage: e.firstPage + skip };
    case "ref":
      return { ...e, vaddr, pages: count, firstPage: e.firstPage + skip };
    case "zero":
      return { ...e, vaddr, pages: count };
    case "file":
      return { ...e, vaddr, pages: count, fileOffset: e.fileOffset + skip * pageSize };
  }
}

/** Whether b continues a: the next pages of the same source, and adjacent. */
function mergeable(a: PageMapEntry, b: PageMapEntry, pageSize: number): boolean {
  return continues(a, b) && a.vaddr + BigInt(a.pages) * BigInt(pageSize) === b.vaddr;
}

function continues(a: PageMapEntry, b: PageMapEntry): boolean {
  switch (a.source) {
    case "data":
      return b.source === "data" && a.block === b.block && a.firstPage + a.pages === b.firstPage;
    case "ref":
      return b.source === "ref" && a.crid === b.crid && a.block === b.block && a.firstPage + a.pages === b.firstPage;
    case "zero":
      return b.source === "zero";
    case "file":
      // Two FILE runs may belong to different VMAs (different files): never merge them.
      return false;
  }
}

/** Sort order of map entries: by vaddr. */
export const byAddress = (a: PageMapEntry, b: PageMapEntry) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0);

/**
 * Two maps, each sorted by vaddr, as one sorted list (not checked or merged): linear, where
 * sorting their concatenation is not (a child's few changes and its many inherited entries).
 */
export function mergeSortedMaps(a: readonly PageMapEntry[], b: readonly PageMapEntry[]): PageMapEntry[] {
  const out: PageMapEntry[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < out.length; k++) out[k] = j === b.length || (i < a.length && a[i]!.vaddr <= b[j]!.vaddr) ? a[i++]! : b[j++]!;
  return out;
}

/** Sorts by vaddr, rejects overlaps, and merges runs that continue each other (shares the entries it does not merge). */
export function normalizePageMap(entries: readonly PageMapEntry[], pageSize: number): PageMapEntry[] {
  const sorted = isSorted(entries) ? entries : [...entries].sort(byAddress);
  const bad = checkMapOrder(sorted, pageSize);
  if (bad) throw new RangeError(`page map entry ${bad.index}: ${bad.why}`);
  const out: PageMapEntry[] = [];
  let grown = false; // whether out's last entry is a copy made here, which may grow in place
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (!last || !mergeable(last, e, pageSize)) {
      out.push(e);
      grown = false;
    } else if (grown) {
      last.pages += e.pages;
    } else {
      out[out.length - 1] = { ...last, pages: last.pages + e.pages };
      grown = true;
    }
  }
  return out;
}

function isSorted(entries: readonly PageMapEntry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i - 1]!.vaddr > entries[i]!.vaddr) return false;
  return true;
}

export interface DerivePageMapOptions {
  /** The parent image's complete page map. */
  parent: readonly PageMapEntry[];
  /** The parent image's CRID: its DATA entries become REFs to it. */
  parentCrid: bigint;
  pageSize: number;
  /** New runs of the child (dirty pages as DATA in the child, new ZERO/FILE runs): they replace the parent's. */
  changes: readonly PageMapEntry[];
  /** Ranges that are no longer mapped or present (munmap, MADV_DONTNEED without a ZERO run, ...). */
  removed?: readonly { vaddr: bigint; pages: number }[];
}

/**
 * The complete page map of an incremental child: the parent's map, inherited (DATA -> REF to
 * the parent, REF copied), with `removed` cut out and `changes` laid over it. The result is
 * sorted, disjoint and merged. Cost O((n + m) log(n + m)), independent of the chain depth.
 */
export function derivePageMap(o: DerivePageMapOptions): PageMapEntry[] {
  const ps = BigInt(o.pageSize);
  const cuts: { start: bigint; end: bigint }[] = [];
  for (const c of o.changes) cuts.push({ start: c.vaddr, end: c.vaddr + BigInt(c.pages) * ps });
  for (const r of o.removed ?? []) cuts.push({ start: r.vaddr, end: r.vaddr + BigInt(r.pages) * ps });
  cuts.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));

  const parent = [...o.parent].sort(byAddress);
  const out: PageMapEntry[] = [...o.changes];
  let j = 0;
  for (const p of parent) {
    const s = p.vaddr;
    const e = p.vaddr + BigInt(p.pages) * ps;
    while (j < cuts.length && cuts[j]!.end <= s) j++;
    let cur = s;
    for (let k = j; k < cuts.length && cuts[k]!.start < e; k++) {
      const c = cuts[k]!;
      if (c.start > cur) {
        out.push(inheritEntry(sliceEntry(p, Number((cur - s) / ps), Number((c.start - cur) / ps), o.pageSize), o.parentCrid));
      }
      if (c.end > cur) cur = c.end;
    }
    if (cur < e) out.push(inheritEntry(sliceEntry(p, Number((cur - s) / ps), Number((e - cur) / ps), o.pageSize), o.parentCrid));
  }
  return normalizePageMap(out, o.pageSize);
}

/** The CRIDs the REF entries of a map point into, ascending. */
export function referencedCrids(entries: readonly PageMapEntry[]): bigint[] {
  const s = new Set<bigint>();
  for (const e of entries) if (e.source === "ref") s.add(e.crid);
  return [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

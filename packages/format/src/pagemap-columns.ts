/**
 * A page map as columns, entry i across them: a deep chain's map has hundreds of thousands of
 * entries, and an object each (with BigInt addresses) costs more than everything a restart or
 * a snapshot does with them. Positions are in pages, as numbers. The objects of pagemap.ts
 * remain for small maps and for tests; these convert between the two.
 */
import { byAddress, holdsBytes, PageSource, type PageMapEntry, type RefRun, referencedCrids } from "./pagemap.js";

/**
 * `holder` names the image with a DATA or REF entry's bytes, as an index into a list of CRIDs
 * that goes with the columns. A decoded image's list is its references' CRIDs followed by its
 * own CRID, so its DATA entries have the index of the image itself; a child's inherited
 * entries keep their parent's indexes, since the parent's list names the same images.
 */
export interface PageColumns {
  readonly length: number;
  /** PageSource of each entry. */
  readonly source: Uint8Array;
  /** First page number (vaddr / page size). */
  readonly first: Float64Array;
  readonly pages: Float64Array;
  /** DATA and REF: the holder's index (see above). */
  readonly holder: Int32Array;
  /** DATA and REF: offset of the PAGES chunk in the holder. */
  readonly block: Float64Array;
  /** DATA and REF: the run's first page within the block; FILE: the file offset in pages. */
  readonly firstPage: Float64Array;
}

/** The holder list of a decoded image: its references' CRIDs, then its own. */
export function imageHolders(references: readonly { crid: bigint }[], crid: bigint): bigint[] {
  return [...references.map((r) => r.crid), crid];
}

/**
 * Where columns are allocated: zeroed memory of at least `bytes` bytes. The default is a plain
 * ArrayBuffer; where first touches of fresh memory are slow (a VM that faults each 4 KiB page
 * through the hypervisor), huge pages from the caller make a large map's columns ~40x cheaper.
 */
export type ColumnMemory = (bytes: number) => ArrayBuffer;

export const freshMemory: ColumnMemory = (bytes) => new ArrayBuffer(bytes);

/** Columns for `length` entries, cut from one allocation (the 8-byte ones first, for alignment). */
export function emptyColumns(length: number, memory: ColumnMemory = freshMemory): PageColumns {
  const buffer = memory(length * (4 * 8 + 4 + 1));
  const float64 = (k: number) => new Float64Array(buffer, k * 8 * length, length);
  return {
    length,
    first: float64(0),
    pages: float64(1),
    block: float64(2),
    firstPage: float64(3),
    holder: new Int32Array(buffer, 32 * length, length),
    source: new Uint8Array(buffer, 36 * length, length),
  };
}

/**
 * Changes the map, in place, to have its holder indexes into `to` instead of `from`, two lists
 * naming the same images (a child's map as built, and as its image's reader decodes it), and
 * nothing but what the encoding keeps: a ZERO entry's pages, a FILE entry's file offset.
 */
export function reholdColumns(c: PageColumns, from: readonly bigint[], to: readonly bigint[]): PageColumns {
  const index = new Map(to.map((crid, i) => [crid, i]));
  const moved = Int32Array.from(from, (crid) => index.get(crid) ?? -1);
  for (let i = 0; i < c.length; i++) {
    const source = c.source[i]!;
    if (holdsBytes(source)) {
      const holder = moved[c.holder[i]!] ?? -1;
      if (holder < 0) throw new RangeError(`page map entry ${i}: holder ${c.holder[i]} (CRID ${from[c.holder[i]!]}) is not among the images it moves to`);
      c.holder[i] = holder;
      continue;
    }
    c.holder[i] = 0;
    c.block[i] = 0;
    if (source !== PageSource.FILE) c.firstPage[i] = 0;
  }
  return c;
}

/** The entries of a columnar map as objects; `holders`: the CRIDs its holder indexes name. */
export function columnEntries(c: PageColumns, holders: readonly bigint[], pageSize: number): PageMapEntry[] {
  const entries = new Array<PageMapEntry>(c.length);
  for (let i = 0; i < c.length; i++) {
    const vaddr = BigInt(c.first[i]! * pageSize);
    const pages = c.pages[i]!;
    switch (c.source[i]) {
      case PageSource.DATA:
        entries[i] = { vaddr, pages, source: "data", block: c.block[i]!, firstPage: c.firstPage[i]! };
        break;
      case PageSource.REF:
        entries[i] = { vaddr, pages, source: "ref", crid: holders[c.holder[i]!]!, block: c.block[i]!, firstPage: c.firstPage[i]! };
        break;
      case PageSource.ZERO:
        entries[i] = { vaddr, pages, source: "zero" };
        break;
      default:
        entries[i] = { vaddr, pages, source: "file", fileOffset: c.firstPage[i]! * pageSize };
    }
  }
  return entries;
}

const SOURCE = { data: PageSource.DATA, ref: PageSource.REF, zero: PageSource.ZERO, file: PageSource.FILE } as const;

/** The PageMapEntry name of each PageSource code. */
export const SOURCE_NAME = Object.fromEntries(Object.entries(SOURCE).map(([name, code]) => [code, name])) as Record<number, PageMapEntry["source"]>;

/**
 * Entries as columns, in their order (not merged). A REF's CRID must be in `holders`; DATA gets
 * the index one past them. Throws a RangeError for a REF to another CRID or an unaligned run.
 */
export function entryColumns(entries: readonly PageMapEntry[], holders: readonly bigint[], pageSize: number, memory?: ColumnMemory): PageColumns {
  const index = new Map(holders.map((crid, i) => [crid, i]));
  const page = BigInt(pageSize);
  const c = emptyColumns(entries.length, memory);
  entries.forEach((e, i) => {
    if (e.vaddr % page !== 0n) throw new RangeError(`page map entry ${i}: page-aligned vaddr, found 0x${e.vaddr.toString(16)}`);
    c.source[i] = SOURCE[e.source];
    c.first[i] = Number(e.vaddr / page);
    c.pages[i] = e.pages;
    if (e.source === "data" || e.source === "ref") {
      const holder = e.source === "data" ? holders.length : index.get(e.crid);
      if (holder === undefined) throw new RangeError(`REF entry at 0x${e.vaddr.toString(16)}: CRID ${(e as RefRun).crid} is not in the references`);
      c.holder[i] = holder;
      c.block[i] = e.block;
      c.firstPage[i] = e.firstPage;
    } else if (e.source === "file") {
      c.firstPage[i] = e.fileOffset / pageSize;
    }
  });
  return c;
}

/** Pages of the entries whose source passes `test`. */
export function pagesWhere(c: PageColumns, test: (source: number) => boolean): number {
  let pages = 0;
  for (let i = 0; i < c.length; i++) if (test(c.source[i]!)) pages += c.pages[i]!;
  return pages;
}

/**
 * Checks that entries are ascending and disjoint, at least a page each, and within the 64-bit
 * address space. Returns the index of the first bad entry and why, or undefined.
 */
export function checkColumnOrder(c: PageColumns, pageSize: number): { index: number; why: string } | undefined {
  const pagesInSpace = 2 ** 64 / pageSize;
  let end = 0;
  for (let i = 0; i < c.length; i++) {
    const first = c.first[i]!;
    const pages = c.pages[i]!;
    if (!(pages >= 1)) return { index: i, why: `page count >= 1, found ${pages}` };
    if (first < end) return { index: i, why: `entries ascending and disjoint (page 0x${first.toString(16)} overlaps the previous run)` };
    end = first + pages;
    if (end > pagesInSpace) return { index: i, why: "run within the 64-bit address space" };
  }
  return undefined;
}

/**
 * Columns grown an entry at a time. An entry that continues the last one (adjacent, the same
 * source, and for bytes the next pages of the same block) is merged into it; FILE runs never
 * are, since two may belong to different mappings. Any source but ZERO and FILE is taken to
 * name bytes by holder, block and page, so a planner may use codes of its own beside PageSource.
 */
export class ColumnsBuilder {
  private c: PageColumns;
  private n = 0;

  constructor(
    capacity = 1024,
    private readonly memory: ColumnMemory = freshMemory,
  ) {
    this.c = emptyColumns(Math.max(capacity, 16), memory);
  }

  push(source: number, first: number, pages: number, holder = 0, block = 0, firstPage = 0): void {
    const c = this.c;
    const last = this.n - 1;
    if (last >= 0 && c.source[last] === source && c.first[last]! + c.pages[last]! === first && source !== PageSource.FILE) {
      if (source === PageSource.ZERO || (c.holder[last] === holder && c.block[last] === block && c.firstPage[last]! + c.pages[last]! === firstPage)) {
        c.pages[last]! += pages;
        return;
      }
    }
    if (this.n === c.length) this.grow();
    const i = this.n++;
    this.c.source[i] = source;
    this.c.first[i] = first;
    this.c.pages[i] = pages;
    this.c.holder[i] = holder;
    this.c.block[i] = block;
    this.c.firstPage[i] = firstPage;
  }

  /** Pages [skip, skip + pages) of entry i of `from`, with `source` (a DATA inherited is a REF). */
  pushSlice(from: PageColumns, i: number, skip: number, pages: number, source = from.source[i]!): void {
    const offset = source === PageSource.ZERO ? 0 : from.firstPage[i]! + skip;
    this.push(source, from.first[i]! + skip, pages, from.holder[i]!, from.block[i]!, offset);
  }

  finish(): PageColumns {
    const { c, n } = this;
    return {
      length: n,
      source: c.source.subarray(0, n),
      first: c.first.subarray(0, n),
      pages: c.pages.subarray(0, n),
      holder: c.holder.subarray(0, n),
      block: c.block.subarray(0, n),
      firstPage: c.firstPage.subarray(0, n),
    };
  }

  private grow(): void {
    const old = this.c;
    const c = emptyColumns(old.length * 2, this.memory);
    c.source.set(old.source);
    c.first.set(old.first);
    c.pages.set(old.pages);
    c.holder.set(old.holder);
    c.block.set(old.block);
    c.firstPage.set(old.firstPage);
    this.c = c;
  }
}

/** A run of pages by page number. */
export interface PageSpan {
  first: number;
  pages: number;
}

/**
 * The parent's entries cut to the `clean` spans (sorted, disjoint), as a child inherits them:
 * DATA becomes a REF to the parent, whose holder index already names the parent in the
 * parent's list of holders. Linear in both.
 */
export function inheritColumns(parent: PageColumns, clean: readonly PageSpan[], memory?: ColumnMemory): PageColumns {
  const out = new ColumnsBuilder(parent.length, memory);
  let j = 0; // the first clean span that may overlap entry i
  for (let i = 0; i < parent.length; i++) {
    const start = parent.first[i]!;
    const end = start + parent.pages[i]!;
    const source = parent.source[i] === PageSource.DATA ? PageSource.REF : parent.source[i]!;
    while (j < clean.length && clean[j]!.first + clean[j]!.pages <= start) j++;
    for (let k = j; k < clean.length && clean[k]!.first < end; k++) {
      const lo = Math.max(clean[k]!.first, start);
      const hi = Math.min(clean[k]!.first + clean[k]!.pages, end);
      out.pushSlice(parent, i, lo - start, hi - lo, source);
    }
  }
  return out.finish();
}

/** Two maps, each sorted and disjoint from the other, as one (runs that continue each other merged). */
export function mergeColumns(a: PageColumns, b: PageColumns, memory?: ColumnMemory): PageColumns {
  const out = new ColumnsBuilder(a.length + b.length, memory);
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    for (; j < b.length && b.first[j]! < a.first[i]!; j++) out.pushSlice(b, j, 0, b.pages[j]!);
    out.pushSlice(a, i, 0, a.pages[i]!);
  }
  for (; j < b.length; j++) out.pushSlice(b, j, 0, b.pages[j]!);
  return out.finish();
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
 * The complete page map of an incremental child, for maps as objects: the parent's map,
 * inherited (DATA -> REF to the parent, REF copied), with `removed` cut out and `changes` laid
 * over it; sorted, disjoint and merged. Overlapping changes are a RangeError.
 */
export function derivePageMap(o: DerivePageMapOptions): PageMapEntry[] {
  const page = BigInt(o.pageSize);
  const cuts = [...o.changes, ...(o.removed ?? [])].map((r) => ({ first: Number(r.vaddr / page), pages: r.pages })).sort((a, b) => a.first - b.first);
  // The parent's DATA gets the index after `refs`: the parent itself, in `holders`.
  const refs = referencedCrids([...o.parent, ...o.changes]);
  const holders = [...refs, o.parentCrid];
  const inherited = inheritColumns(entryColumns([...o.parent].sort(byAddress), refs, o.pageSize), outside(cuts, 2 ** 64 / o.pageSize));
  const merged = mergeColumns(inherited, entryColumns([...o.changes].sort(byAddress), holders, o.pageSize));
  const bad = checkColumnOrder(merged, o.pageSize);
  if (bad) throw new RangeError(`page map entry ${bad.index}: ${bad.why}`);
  return columnEntries(merged, holders, o.pageSize);
}

/** The spans of pages [0, end) that no cut (sorted by first page; they may overlap) covers. */
function outside(cuts: readonly PageSpan[], end: number): PageSpan[] {
  const spans: PageSpan[] = [];
  let at = 0;
  for (const c of cuts) {
    if (c.first > at) spans.push({ first: at, pages: c.first - at });
    at = Math.max(at, c.first + c.pages);
  }
  if (at < end) spans.push({ first: at, pages: end - at });
  return spans;
}

/**
 * The PAGE_MAP body: one record per entry, in address order, each field a LEB128 varint
 * (unsigned) except the source byte. Addresses and file offsets are counted in pages, blocks
 * as deltas from the previous block of the same image, CRIDs as an index into REFERENCES, so a
 * typical entry takes 5-9 bytes: an image's map stays small even when its address space is
 * cut into many runs (a complete map in every image is decision 2 of docs/design.md).
 *
 *   u8      source: 1 DATA, 2 REF, 3 ZERO, 4 FILE
 *   varint  gap: pages from the end of the previous entry (the first: from address 0)
 *   varint  pages (>= 1)
 *   DATA    zigzag(block - previous DATA block; the first: block), varint firstPage
 *   REF     varint reference index, zigzag(block - previous block of that reference), varint firstPage
 *   FILE    varint file offset in pages
 */
import { holdsBytes, PageSource, type PageMapEntry } from "./pagemap.js";
import { type ColumnMemory, emptyColumns, entryColumns, freshMemory, type PageColumns } from "./pagemap-columns.js";
import type { Reference } from "./records.js";

/** The largest value a varint may hold: every field is used as a JS number. */
const MAX_VALUE = Number.MAX_SAFE_INTEGER;

class VarintWriter {
  private bytes = new Uint8Array(1024);
  length = 0;

  byte(b: number): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = b;
  }

  varint(value: number): void {
    if (value >= 0 && value < 0x80 && Number.isInteger(value)) return this.byte(value); // most fields
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`page map value ${value} is not a non-negative safe integer`);
    let v = value;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  zigzag(value: number): void {
    this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/**
 * Encodes columns whose holder indexes name `holders` (pagemap-columns.ts); every REF's holder
 * must be among `references`, whose order gives the reference indexes. DATA is this image's.
 */
export function encodePageMapColumns(c: PageColumns, holders: readonly bigint[], references: readonly Reference[]): Uint8Array {
  const refIndex = new Map(references.map((r, i) => [r.crid, i]));
  /** Reference index by holder index, looked up once per holder (-1: not yet). */
  const indexOf = new Int32Array(holders.length).fill(-1);
  const lastBlock = new Array<number>(references.length + 1).fill(0); // by reference index + 1 (0: this image)
  const w = new VarintWriter();
  let end = 0; // in pages
  for (let i = 0; i < c.length; i++) {
    const source = c.source[i]!;
    w.byte(source);
    w.varint(c.first[i]! - end);
    w.varint(c.pages[i]!);
    end = c.first[i]! + c.pages[i]!;
    if (holdsBytes(source)) {
      const image = source === PageSource.DATA ? -1 : referenceOf(c.holder[i]!, holders, refIndex, indexOf);
      if (source === PageSource.REF) w.varint(image);
      w.zigzag(c.block[i]! - lastBlock[image + 1]!);
      lastBlock[image + 1] = c.block[i]!;
      w.varint(c.firstPage[i]!);
    } else if (source === PageSource.FILE) {
      w.varint(c.firstPage[i]!);
    }
  }
  return w.result();
}

function referenceOf(holder: number, holders: readonly bigint[], refIndex: Map<bigint, number>, indexOf: Int32Array): number {
  if (indexOf[holder]! >= 0) return indexOf[holder]!;
  const index = refIndex.get(holders[holder]!);
  if (index === undefined) throw new RangeError(`REF to CRID ${holders[holder]}, which is not in the references`);
  return (indexOf[holder] = index);
}

/** The same for entries as objects (REF CRIDs among `references`). */
export function encodePageMapBody(entries: readonly PageMapEntry[], references: readonly Reference[], pageSize: number): Uint8Array {
  const holders = references.map((r) => r.crid);
  return encodePageMapColumns(entryColumns(entries, holders, pageSize), holders, references);
}

/** Reports a damaged map: `at` is the byte index in the body. */
export type MapFailure = (at: number, what: string) => never;

class VarintReader {
  at = 0;
  constructor(
    private readonly bytes: Uint8Array,
    readonly fail: MapFailure,
  ) {}

  byte(what: string): number {
    if (this.at >= this.bytes.length) this.fail(this.at, `${what}: the page map ends early`);
    return this.bytes[this.at++]!;
  }

  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if (value > MAX_VALUE) this.fail(this.at, `${what}: a value below 2^53`);
      if (b < 0x80) return value;
      scale *= 0x80;
    }
  }

  zigzag(what: string): number {
    const z = this.varint(what);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/**
 * Decodes `count` entries into columns; `offsets[i]` is where entry i starts in the body.
 * Positions are counted in pages as numbers (an address space of 2^64 bytes has fewer than
 * 2^53 pages), and nothing is allocated per entry: a deep chain's map has hundreds of
 * thousands of entries. Gaps are unsigned, so the entries come out ascending and disjoint by
 * construction; only the end of the address space is checked.
 */
export function decodePageMapColumns(
  body: Uint8Array,
  count: number,
  references: readonly Reference[],
  pageSize: number,
  fail: MapFailure,
  memory: ColumnMemory = freshMemory,
): { columns: PageColumns; offsets: Float64Array; totalPages: number } {
  const r = new VarintReader(body, fail);
  const columns = emptyColumns(count, memory);
  const offsets = new Float64Array(memory(count * 8), 0, count);
  const lastBlock = new Array<number>(references.length + 1).fill(0); // by holder index
  const pagesInSpace = 2 ** 64 / pageSize;
  let end = 0; // in pages
  let totalPages = 0;
  for (let i = 0; i < count; i++) {
    const entryAt = (offsets[i] = r.at);
    const source = (columns.source[i] = r.byte("source"));
    const first = (columns.first[i] = end + r.varint("gap"));
    const pages = (columns.pages[i] = r.varint("pages"));
    if (pages < 1) fail(entryAt, "page count >= 1");
    end = first + pages;
    if (end > pagesInSpace) fail(entryAt, "run within the 64-bit address space");
    totalPages += pages;
    decodeLocation(r, source, columns, i, references.length, lastBlock, entryAt);
  }
  if (r.at !== body.length) fail(r.at, `the page map to end after ${count} entries`);
  return { columns, offsets, totalPages };
}

function decodeLocation(r: VarintReader, source: number, c: PageColumns, i: number, refCount: number, lastBlock: number[], entryAt: number): void {
  switch (source) {
    case PageSource.DATA:
    case PageSource.REF: {
      const image = source === PageSource.DATA ? refCount : r.varint("reference index");
      if (image >= refCount && source === PageSource.REF) r.fail(entryAt, `a reference index below ${refCount}, found ${image}`);
      const block = lastBlock[image]! + r.zigzag("block");
      if (block < 0) r.fail(entryAt, `a block offset >= 0, found ${block}`);
      lastBlock[image] = c.block[i] = block;
      c.holder[i] = image;
      c.firstPage[i] = r.varint("first page");
      return;
    }
    case PageSource.ZERO:
      return;
    case PageSource.FILE:
      c.firstPage[i] = r.varint("file offset");
      return;
    default:
      r.fail(entryAt, `page source 1..4, found ${source}`);
  }
}

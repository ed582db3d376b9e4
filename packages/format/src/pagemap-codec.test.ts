import { describe, expect, it } from "vitest";
import type { PageMapEntry } from "./pagemap.js";
import { checkColumnOrder, columnEntries, entryColumns, imageHolders } from "./pagemap-columns.js";
import { decodePageMapColumns, encodePageMapBody } from "./pagemap-codec.js";

const PAGE = 4096;
const refs = [
  { crid: 3n, identity: 0x1111n },
  { crid: 9n, identity: 0x2222n },
];

/** A sorted map with every source, gaps, and blocks moving both ways. */
function randomMap(seed: number, count: number): PageMapEntry[] {
  let x = seed;
  const next = (n: number) => (x = (x * 1103515245 + 12345) % 2 ** 31) % n;
  const entries: PageMapEntry[] = [];
  let page = 0x7f00_0000_0n;
  for (let i = 0; i < count; i++) {
    page += BigInt(next(4));
    const vaddr = page * BigInt(PAGE);
    const pages = 1 + next(300);
    page += BigInt(pages);
    const kind = next(4);
    if (kind === 0) entries.push({ vaddr, pages, source: "data", block: 16 + next(1 << 30), firstPage: next(256) });
    else if (kind === 1) entries.push({ vaddr, pages, source: "ref", crid: refs[next(2)]!.crid, block: next(1 << 30), firstPage: next(256) });
    else if (kind === 2) entries.push({ vaddr, pages, source: "zero" });
    else entries.push({ vaddr, pages, source: "file", fileOffset: next(1 << 20) * PAGE });
  }
  return entries;
}

const fail = (at: number, what: string): never => {
  throw new Error(`at ${at}: ${what}`);
};

/** The holder CRIDs of an image (CRID 99) with these references. */
const holdersOf = (references: typeof refs) => imageHolders(references, 99n);

/** Decodes into columns and reads them back as entries. */
function decodePageMapEntries(body: Uint8Array, count: number, references: typeof refs, pageSize: number, failure: typeof fail) {
  const { columns, offsets } = decodePageMapColumns(body, count, references, pageSize, failure);
  return { entries: columnEntries(columns, holdersOf(references), pageSize), offsets };
}

describe("page map encoding", () => {
  it("decodes to exactly the entries it encoded, with each entry's offset", () => {
    for (let seed = 1; seed < 50; seed++) {
      const map = randomMap(seed, 200);
      const body = encodePageMapBody(map, refs, PAGE);
      const { entries, offsets } = decodePageMapEntries(body, map.length, refs, PAGE, fail);
      expect(entries).toEqual(map);
      expect(offsets[0]).toBe(0);
      expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!)).toBe(true);
    }
  });

  it("decodes into memory the caller gives, even when it is larger than asked", () => {
    const map = randomMap(11, 300);
    const given: ArrayBuffer[] = [];
    const memory = (bytes: number) => {
      given.push(new ArrayBuffer(Math.ceil(bytes / 4096) * 4096)); // as huge-page memory comes: rounded up
      return given[given.length - 1]!;
    };
    const { columns, offsets } = decodePageMapColumns(encodePageMapBody(map, refs, PAGE), map.length, refs, PAGE, fail, memory);
    expect(columnEntries(columns, holdersOf(refs), PAGE)).toEqual(map);
    expect(offsets.length).toBe(map.length);
    for (const column of [columns.first, columns.pages, columns.block, columns.firstPage, columns.holder, columns.source]) {
      expect(column.length).toBe(map.length);
      expect(column.buffer).toBe(given[0]);
    }
  });

  it("stores a fragmented map of REFs in a few bytes per entry", () => {
    const map: PageMapEntry[] = Array.from({ length: 10_000 }, (_, i) => ({
      vaddr: BigInt(0x7f0000000000 + i * 2 * PAGE),
      pages: 1,
      source: "ref" as const,
      crid: 3n,
      block: 4096 + Math.floor(i / 256) * (256 * PAGE + 4096),
      firstPage: i % 256,
    }));
    expect(encodePageMapBody(map, refs, PAGE).length / map.length).toBeLessThan(8);
  });

  it("refuses a body that ends early, runs on, or names a missing reference", () => {
    const map = randomMap(7, 20);
    const body = encodePageMapBody(map, refs, PAGE);
    expect(() => decodePageMapEntries(body.subarray(0, body.length - 1), map.length, refs, PAGE, fail)).toThrow(/ends early/);
    expect(() => decodePageMapEntries(body, map.length - 1, refs, PAGE, fail)).toThrow(/to end after/);
    const oneRef = [{ vaddr: 0n, pages: 1, source: "ref" as const, crid: 9n, block: 0, firstPage: 0 }];
    expect(() => decodePageMapEntries(encodePageMapBody(oneRef, refs, PAGE), 1, refs.slice(0, 1), PAGE, fail)).toThrow(/reference index below 1/);
    const pastTheEnd = [{ vaddr: (1n << 64n) - BigInt(PAGE), pages: 2, source: "zero" as const }];
    expect(() => decodePageMapEntries(encodePageMapBody(pastTheEnd, refs, PAGE), 1, refs, PAGE, fail)).toThrow(/64-bit address space/);
  });

  it("keeps addresses above 2^53 exact, up to the last page of the address space", () => {
    const high = 0xffff_ffff_ff60_0000n; // where x86_64 puts vsyscall
    const map: PageMapEntry[] = [
      { vaddr: 0x7f00_0000_0000n, pages: 2, source: "zero" },
      { vaddr: 0x20_0000_0000_1000n, pages: 3, source: "ref", crid: 3n, block: 4096, firstPage: 1 },
      { vaddr: high, pages: 1, source: "data", block: 8192, firstPage: 0 },
      { vaddr: (1n << 64n) - BigInt(PAGE), pages: 1, source: "zero" },
    ];
    expect(checkColumnOrder(entryColumns(map, [3n], PAGE), PAGE)).toBeUndefined();
    const { entries } = decodePageMapEntries(encodePageMapBody(map, refs, PAGE), map.length, refs, PAGE, fail);
    expect(entries).toEqual(map);
  });

  it("finds a misaligned address above 2^53 and a run past 2^64", () => {
    expect(() => entryColumns([{ vaddr: 0x20_0000_0000_1001n, pages: 1, source: "zero" }], [], PAGE)).toThrow(/page-aligned/);
    expect(checkColumnOrder(entryColumns([{ vaddr: (1n << 64n) - BigInt(PAGE), pages: 2, source: "zero" }], [], PAGE), PAGE)).toEqual({ index: 0, why: expect.stringMatching(/64-bit address space/) });
  });
});

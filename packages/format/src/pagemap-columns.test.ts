import { describe, expect, it } from "vitest";
import { decodePageMapColumns, encodePageMapColumns } from "./pagemap-codec.js";
import { PageSource, type PageMapEntry } from "./pagemap.js";
import { columnEntries, derivePageMap, emptyColumns, entryColumns, imageHolders, inheritColumns, mergeColumns, reholdColumns } from "./pagemap-columns.js";

const PAGE = 4096;
const page = (n: number) => BigInt(n * PAGE);

/** What each page of a map is, one string per page: the model the columnar code is checked against. */
function pagesOf(map: readonly PageMapEntry[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of map) {
    const first = Number(e.vaddr / BigInt(PAGE));
    for (let i = 0; i < e.pages; i++) {
      const where = e.source === "data" ? `own:${e.block}:${e.firstPage + i}` : e.source === "ref" ? `${e.crid}:${e.block}:${e.firstPage + i}` : e.source === "file" ? `file:${e.fileOffset + i * PAGE}` : "zero";
      out.set(first + i, where);
    }
  }
  return out;
}

/** A random sorted map over pages [0, 400): every source, gaps, runs that continue each other. */
function randomMap(seed: number): PageMapEntry[] {
  let x = seed;
  const next = (n: number) => (x = (x * 1103515245 + 12345) % 2 ** 31) % n;
  const map: PageMapEntry[] = [];
  for (let at = next(3); at < 400; ) {
    const pages = 1 + next(12);
    const vaddr = page(at);
    const kind = next(4);
    if (kind === 0) map.push({ vaddr, pages, source: "data", block: 16 + next(3) * 8192, firstPage: next(4) });
    else if (kind === 1) map.push({ vaddr, pages, source: "ref", crid: BigInt(1 + next(3)), block: next(3) * 8192, firstPage: next(4) });
    else if (kind === 2) map.push({ vaddr, pages, source: "zero" });
    else map.push({ vaddr, pages, source: "file", fileOffset: next(100) * PAGE });
    at += pages + next(3);
  }
  return map;
}

describe("page map columns", () => {
  it("derive a child's map page for page as the parent's with the changes laid over it, for random maps", () => {
    for (let seed = 1; seed < 60; seed++) {
      const parent = randomMap(seed);
      const changes = randomMap(seed * 7 + 3).filter((_, i) => i % 3 === 0);
      const removed = [{ vaddr: page(seed % 50), pages: 5 }];
      const child = derivePageMap({ parent, parentCrid: 9n, pageSize: PAGE, changes, removed });
      const want = pagesOf(parent);
      for (const [p, where] of want) if (where.startsWith("own:")) want.set(p, `9:${where.slice(4)}`);
      for (let p = seed % 50; p < (seed % 50) + 5; p++) want.delete(p);
      for (const [p, where] of pagesOf(changes)) want.set(p, where);
      expect(pagesOf(child), `seed ${seed}`).toEqual(want);
      // Sorted, disjoint, and merged: no entry continues the one before it.
      for (let i = 1; i < child.length; i++) {
        const [a, b] = [child[i - 1]!, child[i]!];
        expect(a.vaddr + BigInt(a.pages * PAGE) <= b.vaddr).toBe(true);
        const adjacent = a.vaddr + BigInt(a.pages * PAGE) === b.vaddr;
        if (adjacent && a.source === "zero") expect(b.source).not.toBe("zero");
        if (adjacent && a.source === "ref" && b.source === "ref" && a.crid === b.crid && a.block === b.block) expect(b.firstPage).not.toBe(a.firstPage + a.pages);
      }
    }
  });

  it("refuse changes that overlap each other", () => {
    const changes: PageMapEntry[] = [
      { vaddr: page(0), pages: 4, source: "zero" },
      { vaddr: page(2), pages: 4, source: "data", block: 16, firstPage: 0 },
    ];
    expect(() => derivePageMap({ parent: [], parentCrid: 1n, pageSize: PAGE, changes })).toThrow(/ascending and disjoint/);
  });

  it("keep the parent's holder indexes when inherited, so the child's list of holders names the same images", () => {
    const holders = [3n, 5n, 7n]; // the parent's references, then the parent (CRID 7)
    const parent = entryColumns(
      [
        { vaddr: page(0), pages: 8, source: "ref", crid: 5n, block: 0, firstPage: 0 },
        { vaddr: page(8), pages: 8, source: "data", block: 16, firstPage: 0 },
      ],
      holders.slice(0, 2),
      PAGE,
    );
    const inherited = inheritColumns(parent, [
      { first: 2, pages: 3 },
      { first: 6, pages: 4 },
    ]);
    expect(columnEntries(inherited, holders, PAGE)).toEqual([
      { vaddr: page(2), pages: 3, source: "ref", crid: 5n, block: 0, firstPage: 2 },
      { vaddr: page(6), pages: 2, source: "ref", crid: 5n, block: 0, firstPage: 6 },
      { vaddr: page(8), pages: 2, source: "ref", crid: 7n, block: 16, firstPage: 0 },
    ]);
    const own = entryColumns([{ vaddr: page(5), pages: 1, source: "zero" }], holders, PAGE);
    expect(columnEntries(mergeColumns(inherited, own), holders, PAGE).map((e) => [Number(e.vaddr / BigInt(PAGE)), e.pages, e.source])).toEqual([
      [2, 3, "ref"],
      [5, 1, "zero"],
      [6, 2, "ref"],
      [8, 2, "ref"],
    ]);
    expect(mergeColumns(emptyColumns(0), emptyColumns(0)).length).toBe(0);
  });

  it("rehold a map built with one list of holders into what its image decodes to, for random maps", () => {
    for (let seed = 1; seed < 40; seed++) {
      const built = [3n, 1n, 2n, 9n]; // a child's inherited holders, then the child (CRID 9)
      const references = [1n, 2n, 3n].map((crid) => ({ crid, identity: crid * 11n }));
      const map = randomMap(seed);
      const columns = entryColumns(map, built.slice(0, -1), PAGE);
      columns.holder.forEach((_, i) => columns.source[i] === PageSource.ZERO && (columns.holder[i] = 2)); // inherited ZERO entries may carry a holder: the encoding keeps none
      const body = encodePageMapColumns(columns, built.slice(0, -1), references);
      const decoded = decodePageMapColumns(body, columns.length, references, PAGE, (at, what) => {
        throw new Error(`${at}: ${what}`);
      }).columns;
      expect(reholdColumns(columns, built, imageHolders(references, 9n)), `seed ${seed}`).toEqual(decoded);
      expect(columns, "reheld in place").toEqual(decoded);
    }
    expect(() => reholdColumns(entryColumns([{ vaddr: 0n, pages: 1, source: "ref", crid: 3n, block: 0, firstPage: 0 }], [3n], PAGE), [3n, 9n], [1n, 9n])).toThrow(/CRID 3/);
  });
});


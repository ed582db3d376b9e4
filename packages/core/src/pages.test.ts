import { describe, expect, it } from "vitest";
import { PAGE_SIZE } from "@cr/native";
import { intersectRuns, RunIndex, RunList, subtractRuns, unionRuns, type PageRun } from "./pages.js";

const PAGE = BigInt(PAGE_SIZE);

/** A sorted, disjoint, non-touching list of runs drawn from a seeded generator, from `base` on. */
function randomRuns(seed: number, base = 0n): PageRun[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  const runs: PageRun[] = [];
  let at = base;
  for (let i = 0; i < 40; i++) {
    at += BigInt(1 + (next() % 5)) * PAGE;
    const pages = 1 + (next() % 4);
    runs.push({ start: at, pages });
    at += BigInt(pages) * PAGE;
  }
  return runs;
}

function pageSet(runs: PageRun[]): Set<bigint> {
  const set = new Set<bigint>();
  for (const r of runs) for (let k = 0; k < r.pages; k++) set.add(r.start + BigInt(k) * PAGE);
  return set;
}

describe("page run algebra", () => {
  it("union, difference and intersection agree with sets of pages", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const a = randomRuns(seed);
      const b = randomRuns(seed * 7919);
      const A = pageSet(a);
      const B = pageSet(b);
      expect(pageSet(unionRuns(a, b))).toEqual(new Set([...A, ...B]));
      expect(pageSet(subtractRuns(a, b))).toEqual(new Set([...A].filter((p) => !B.has(p))));
      expect(pageSet(intersectRuns(a, b))).toEqual(new Set([...A].filter((p) => B.has(p))));
    }
  });

  it("is exact at the top of a 57-bit address space, past what a number holds of any integer", () => {
    const base = (1n << 56n) - 1000n * PAGE;
    for (let seed = 1; seed <= 50; seed++) {
      const a = randomRuns(seed, base);
      const b = randomRuns(seed * 31, base);
      const A = pageSet(a);
      const B = pageSet(b);
      expect(pageSet(unionRuns(a, b))).toEqual(new Set([...A, ...B]));
      expect(pageSet(subtractRuns(a, b))).toEqual(new Set([...A].filter((p) => !B.has(p))));
      expect(pageSet(intersectRuns(a, b))).toEqual(new Set([...A].filter((p) => B.has(p))));
    }
  });

  it("returns merged runs: no two results touch", () => {
    const merged = unionRuns([{ start: 0n, pages: 2 }], [{ start: 2n * PAGE, pages: 3 }]);
    expect(merged).toEqual([{ start: 0n, pages: 5 }]);
  });

  it("keeps the runs a union passes through whole, and never changes an input's runs", () => {
    const a = [{ start: 0n, pages: 1 }, { start: 8n * PAGE, pages: 2 }];
    const b = [{ start: 1n * PAGE, pages: 1 }, { start: 20n * PAGE, pages: 1 }];
    const before = JSON.stringify([a, b], (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    const union = unionRuns(a, b);
    expect(union).toEqual([{ start: 0n, pages: 2 }, { start: 8n * PAGE, pages: 2 }, { start: 20n * PAGE, pages: 1 }]);
    expect(union[1]).toBe(a[1]);
    expect(union[2]).toBe(b[1]);
    const grown = new RunList();
    grown.keep(a[1]!, 8 * PAGE_SIZE, 10 * PAGE_SIZE);
    grown.add(10 * PAGE_SIZE, 12 * PAGE_SIZE);
    expect(grown.runs).toEqual([{ start: 8n * PAGE, pages: 4 }]);
    expect(JSON.stringify([a, b], (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toBe(before);
  });

  it("copies a list that then goes on apart from it", () => {
    const list = new RunList();
    list.add(0, PAGE_SIZE);
    const copy = list.copy();
    list.add(PAGE_SIZE, 2 * PAGE_SIZE);
    copy.add(5 * PAGE_SIZE, 6 * PAGE_SIZE);
    expect(list.runs).toEqual([{ start: 0n, pages: 2 }]);
    expect(copy.runs).toEqual([{ start: 0n, pages: 1 }, { start: 5n * PAGE, pages: 1 }]);
  });

  it("finds the parts of a run list within each range as intersectRuns does", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const runs = randomRuns(seed);
      const index = new RunIndex(runs);
      for (const range of randomRuns(seed * 13).filter((_, i) => i % 5 === 0)) expect(index.within(range)).toEqual(intersectRuns(runs, [range]));
    }
  });
});


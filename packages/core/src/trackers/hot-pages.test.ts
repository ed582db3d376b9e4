import { describe, expect, it } from "vitest";
import { xxh64Pages } from "@cr/native";
import { totalPages, type PageRun } from "../pages.js";
import { decodeState, encodeState, hotAfter, MAX_HOT_RUNS, MIN_HOT_PAGES, unarmedNow, type WriteProtectState } from "./hot-pages.js";
import type { SavedPages, TrackContext } from "./tracker.js";

const PAGE = 4096n;
const run = (page: number, pages: number): PageRun => ({ start: BigInt(page) * PAGE, pages });

function parentWith(state: Uint8Array | null, changed: PageRun[], restarted = false): NonNullable<TrackContext["parent"]> {
  return { identity: 1n, state, dataRuns: changed, changedRuns: () => changed, guards: null, restarted };
}

/** `runs` saved, page i of them holding the byte `fill(i)` throughout, read as a copy's are (secure-pages.ts). */
function savedPages(runs: PageRun[], fill: (page: number) => number = (i) => i): SavedPages & { bytes: Buffer } {
  const bytes = Buffer.alloc(totalPages(runs) * Number(PAGE));
  for (let i = 0; i < totalPages(runs); i++) bytes.fill(fill(i) & 0xff, i * Number(PAGE), (i + 1) * Number(PAGE));
  return { runs, bytes, read: async (block, first) => bytes.subarray(first * Number(PAGE), (first + totalPages(block)) * Number(PAGE)) };
}

function hashesOf(saved: { runs: PageRun[]; bytes: Buffer }): BigUint64Array {
  const hashes = new BigUint64Array(totalPages(saved.runs));
  xxh64Pages(saved.bytes, hashes, 0);
  return hashes;
}

const state = (fields: Partial<WriteProtectState>): WriteProtectState => ({ childFaults: 0n, round: 3, hot: [], hashes: new BigUint64Array(0), ...fields });

describe("the write-protect tracker's state", () => {
  it("decodes what it encodes: reaped faults, round, hot runs and their pages' hashes", () => {
    const hot = [run(16, 3), run(70000, 1)];
    const encoded = state({ childFaults: 12345678901234n, round: 7, hot, hashes: BigUint64Array.from([1n, 2n ** 64n - 1n, 3n, 4n]) });
    expect(decodeState(encodeState(encoded))).toEqual(encoded);
  });

  it("of an image made before hot pages (reaped faults alone): round 0, nothing hot", () => {
    const old = new Uint8Array(8);
    new DataView(old.buffer).setBigUint64(0, 42n, true);
    expect(decodeState(old)).toEqual(state({ childFaults: 42n, round: 0 }));
  });

  it("of an image made before their hashes: its round, nothing hot (hot runs without hashes have cooled)", () => {
    const withHashes = encodeState(state({ round: 5, hot: [run(0, 2)], hashes: BigUint64Array.from([1n, 2n]) }));
    expect(decodeState(withHashes.subarray(0, withHashes.length - 16))).toEqual(state({ round: 5 }));
  });

  it("that does not add up is no state", () => {
    const bytes = encodeState(state({ hot: [run(1, 1)], hashes: BigUint64Array.from([9n]) }));
    expect(decodeState(bytes.subarray(0, bytes.length - 1))).toBeNull();
    expect(decodeState(bytes.subarray(0, 20))).toBeNull();
    expect(decodeState(bytes.subarray(0, 4))).toBeNull();
    expect(decodeState(null)).toBeNull();
  });
});

describe("hot pages", () => {
  const hot = [run(0, 16)];
  const stateAt = (round: number) => encodeState(state({ round, hot, hashes: new BigUint64Array(16) }));

  it("are left unarmed after every increment that found them hot, whatever its round", () => {
    for (let round = 1; round <= 20; round++) expect(unarmedNow(parentWith(stateAt(round - 1), []), false)).toEqual({ round, unarmed: hot });
  });

  it("are none without a parent, with a history not trusted, or after a restart (which armed every page)", () => {
    expect(unarmedNow(null, false)).toEqual({ round: 0, unarmed: [] });
    expect(unarmedNow(parentWith(stateAt(3), []), true)).toEqual({ round: 0, unarmed: [] });
    expect(unarmedNow(parentWith(stateAt(3), [], true), false)).toEqual({ round: 1, unarmed: [] });
  });

  it("are the runs of MIN_HOT_PAGES or more written now that the parent increment saved as its own; none where the parent was a full image or the pages cannot be read", async () => {
    const parent = parentWith(null, [run(0, 100), run(200, 50)]);
    const written = [run(50, 100), run(190, 20), run(230, MIN_HOT_PAGES - 1), run(400, 30)];
    const saved = savedPages(written);
    const hot = await hotAfter(parent, 2, written, saved);
    expect(hot.hot).toEqual([run(50, 50)]);
    expect(hot.hashes).toEqual(hashesOf(saved).subarray(0, 50));
    expect((await hotAfter(parent, 1, written, saved)).hot).toEqual([]);
    expect((await hotAfter(parent, 2, written, undefined)).hot).toEqual([]);
  });

  it("stay hot only while their bytes change: a page left unarmed that hashes as the parent saved it has cooled", async () => {
    const before = savedPages([run(0, 32)]);
    const parent = parentWith(encodeState(state({ hot: [run(0, 32)], hashes: hashesOf(before) })), [run(0, 32), run(100, 16)]);
    // Pages 0-15 as before, 16-31 rewritten; 100-115 were armed, written, and happen to hold what they held.
    const written = [run(0, 32), run(100, 16)];
    const now = savedPages(written, (i) => (i < 16 ? i : 100 + i));
    const hot = await hotAfter(parent, 4, written, now);
    expect(hot.hot).toEqual([run(16, 16), run(100, 16)]);
    expect(hot.hashes).toEqual(hashesOf(now).subarray(16));
  });

  it("are the largest MAX_HOT_RUNS runs, in address order", async () => {
    const scattered = Array.from({ length: MAX_HOT_RUNS + 10 }, (_, i) => run(i * 100, MIN_HOT_PAGES + (i === 3 || i === MAX_HOT_RUNS + 5 ? 50 : 0)));
    const parent = parentWith(null, [run(0, 100_000)]);
    const kept = (await hotAfter(parent, 5, scattered, savedPages(scattered))).hot;
    expect(kept).toHaveLength(MAX_HOT_RUNS);
    expect(kept).toContainEqual(run(300, MIN_HOT_PAGES + 50));
    expect(kept).toContainEqual(run((MAX_HOT_RUNS + 5) * 100, MIN_HOT_PAGES + 50));
    expect(kept.map((r) => r.start)).toEqual([...kept.map((r) => r.start)].sort((a, b) => (a < b ? -1 : 1)));
  });
});

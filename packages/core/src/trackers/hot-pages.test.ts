import { describe, expect, it } from "vitest";
import type { PageRun } from "../pages.js";
import { decodeState, encodeState, hotAfter, MAX_HOT_RUNS, MIN_HOT_PAGES, REARM_EVERY, unarmedNow } from "./hot-pages.js";
import type { TrackContext } from "./tracker.js";

const PAGE = 4096n;
const run = (page: number, pages: number): PageRun => ({ start: BigInt(page) * PAGE, pages });

function parentWith(state: Uint8Array | null, changed: PageRun[], restarted = false): NonNullable<TrackContext["parent"]> {
  return { identity: 1n, state, dataRuns: changed, changedRuns: () => changed, guards: null, restarted };
}

describe("the write-protect tracker's state", () => {
  it("decodes what it encodes: reaped faults, round and hot runs", () => {
    const state = { childFaults: 12345678901234n, round: 7, hot: [run(16, 4096), run(70000, 1)] };
    expect(decodeState(encodeState(state))).toEqual(state);
  });

  it("of an image made before hot pages (reaped faults alone): round 0, nothing hot", () => {
    const old = new Uint8Array(8);
    new DataView(old.buffer).setBigUint64(0, 42n, true);
    expect(decodeState(old)).toEqual({ childFaults: 42n, round: 0, hot: [] });
  });

  it("that does not add up is no state", () => {
    const bytes = encodeState({ childFaults: 1n, round: 3, hot: [run(1, 1)] });
    expect(decodeState(bytes.subarray(0, bytes.length - 1))).toBeNull();
    expect(decodeState(bytes.subarray(0, 4))).toBeNull();
    expect(decodeState(null)).toBeNull();
  });
});

describe("hot pages", () => {
  const hot = [run(0, 16)];
  const stateAt = (round: number) => encodeState({ childFaults: 0n, round, hot });

  it("are left unarmed after the parent's round, except every REARM_EVERY-th, which arms every page", () => {
    for (let round = 1; round <= 2 * REARM_EVERY; round++) {
      const now = unarmedNow(parentWith(stateAt(round - 1), []), false);
      expect(now).toEqual({ round, unarmed: round % REARM_EVERY === 0 ? [] : hot });
    }
  });

  it("are none without a parent, with a history not trusted, or after a restart (which armed every page)", () => {
    expect(unarmedNow(null, false)).toEqual({ round: 0, unarmed: [] });
    expect(unarmedNow(parentWith(stateAt(3), []), true)).toEqual({ round: 0, unarmed: [] });
    expect(unarmedNow(parentWith(stateAt(3), [], true), false)).toEqual({ round: 1, unarmed: [] });
  });

  it("are the runs of MIN_HOT_PAGES or more written now that the parent increment saved as its own; none where the parent was a full image", () => {
    const parent = parentWith(null, [run(0, 100), run(200, 50)]);
    const written = [run(50, 100), run(190, 20), run(230, MIN_HOT_PAGES - 1), run(400, 30)];
    expect(hotAfter(parent, 2, written)).toEqual([run(50, 50)]);
    expect(hotAfter(parent, 1, written)).toEqual([]);
  });

  it("are the largest MAX_HOT_RUNS runs, in address order", () => {
    const scattered = Array.from({ length: MAX_HOT_RUNS + 10 }, (_, i) => run(i * 100, MIN_HOT_PAGES + (i === 3 || i === MAX_HOT_RUNS + 5 ? 50 : 0)));
    const parent = parentWith(null, [run(0, 100_000)]);
    const kept = hotAfter(parent, 5, scattered);
    expect(kept).toHaveLength(MAX_HOT_RUNS);
    expect(kept).toContainEqual(run(300, MIN_HOT_PAGES + 50));
    expect(kept).toContainEqual(run((MAX_HOT_RUNS + 5) * 100, MIN_HOT_PAGES + 50));
    expect(kept.map((r) => r.start)).toEqual([...kept.map((r) => r.start)].sort((a, b) => (a < b ? -1 : 1)));
  });
});

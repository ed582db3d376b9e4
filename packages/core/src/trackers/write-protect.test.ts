import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeze, probeKernel, scratch, thaw } from "@cr/native";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { snapshot } from "../checkpoint.js";
import { copyPages } from "../memory.js";
import { decodeRuns, encodeRuns, intersectRuns, PAGE_SIZE, type PageRun } from "../pages.js";
import { collectVmas, markTrampoline } from "../vmas.js";
import { historySlot } from "./history.js";
import type { TrackContext } from "./tracker.js";
import { WriteProtectTracker } from "./write-protect.js";

const available = probeKernel().writeProtectScan;
let bin: string;
let dir: string;
beforeAll(() => {
  bin = program("proc_target");
  dir = mkdtempSync(join(tmpdir(), "cr-wp-"));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!available.available)("write-protect tracker, re-armed after the thaw", () => {
  let target: Target;
  let base: bigint;
  const page = (i: number, pages = 1): PageRun => ({ start: base + BigInt(i * PAGE_SIZE), pages });

  beforeAll(async () => {
    target = await startTarget(bin, ["pages", "16"]);
    base = BigInt(target.ready.pages as string);
    await snapshot(target.pid, { store: join(dir, "store"), incremental: false }); // registers the tracking
  });
  afterAll(() => target.stop());

  /** The tracker's view of the frozen target; `parent` as a snapshot would pass it. */
  function context(parent: TrackContext["parent"] = null): TrackContext {
    const area = scratch(target.pid);
    return { pid: target.pid, tid: target.pid, vmas: markTrampoline(collectVmas(target.pid), area.trampoline), slot: historySlot(area), parent };
  }

  it("carries the pages written between the thaw and the re-arm, except those that still hold the saved bytes", async () => {
    await target.send("write 1 7");
    await target.send("write 2 9");
    const tids = freeze(target.pid);
    const result = new WriteProtectTracker().collectDirty(context());
    try {
      const saved = [page(1, 2)];
      const bytes = copyPages(target.pid, saved);
      thaw(tids);
      expect(await target.send("write 1 8")).toBe("ok"); // changed since the copy
      expect(await target.send("write 2 9")).toBe("ok"); // written, but the same bytes
      expect(await target.send("write 3 5")).toBe("ok"); // not in the copy at all
      const rearmed = result.rearm!({ runs: saved, bytes });
      // The program's own stack and stdio buffers were written too: only its pages are looked at here.
      const carried = "state" in rearmed ? intersectRuns(decodeRuns(rearmed.state)!.runs, [page(0, 16)]) : rearmed;
      expect(carried).toEqual([page(1), page(3)]);
    } finally {
      result.release!();
    }
  });

  it("leaves the tracker alone while another snapshot has claimed it and not re-armed yet", async () => {
    await target.send("write 4 1");
    let tids = freeze(target.pid);
    const first = new WriteProtectTracker().collectDirty(context());
    thaw(tids);
    try {
      tids = freeze(target.pid);
      const second = new WriteProtectTracker().collectDirty(context());
      thaw(tids);
      expect(second.allDirtyReason).toMatch(/another snapshot of this process \(by cr PID \d+\) has not re-armed/);
      expect(second.rearm!(null)).toEqual({ brokenReason: second.allDirtyReason });
      expect(first.rearm!(null)).toHaveProperty("state"); // the claim is still the first snapshot's
    } finally {
      first.release!();
    }
  });

  it("counts the parent's carried pages as changed, even when no scan saw them written", async () => {
    const tids = freeze(target.pid);
    try {
      const ctx = context();
      new WriteProtectTracker().committed(ctx, 42n); // as if image 42 had consumed the last re-arm
      const result = new WriteProtectTracker().collectDirty(context({ identity: 42n, state: encodeRuns([page(5)]), dataRuns: [page(0, 16)] }));
      expect(intersectRuns(result.unchanged, [page(0, 16)])).toEqual([page(0, 5), page(6, 10)]);
      result.release!();
    } finally {
      thaw(tids);
    }
  });
});

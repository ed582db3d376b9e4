// Hot pages (packages/core/src/trackers/hot-pages.ts): pages a program writes in every interval
// stay unarmed between snapshots while their bytes change, so it takes no write-protect fault on
// them, and every image still holds the memory exactly, unarmed pages zapped by MADV_DONTNEED
// too; once the program stops writing them, they are saved once more, armed, and no longer saved.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot } from "@cr/core";
import { PAGE_IS_WRITTEN, pagemapScan, probeKernel } from "@cr/native";
import { cleanupTmp, fixtures, startFixture, tmpDir, type Fixture } from "./harness.js";
import { PAGE, readCheckpointMemory } from "./image-pages.js";
import { compareWithModel, expectNoMismatch, MemoryModel } from "./memory-model.js";

const HOT = 24; // pages 0..23 of the region, written before every snapshot
const PAGES = 64;
const ROUNDS = 10;
const { available, reason } = probeKernel().writeProtectScan;

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

describe.skipIf(!available)(`hot pages of the write-protect tracker${available ? "" : ` (${reason})`}`, () => {
  let t: Fixture;
  let model: MemoryModel;
  let store: string;

  beforeAll(async () => {
    store = join(tmpDir("cr-hot-pages-"), "store");
    t = await startFixture("tracker_target");
    await t.waitReady();
    model = new MemoryModel(t);
    await model.map(0, PAGES);
    await model.write(0, 0, PAGES, 1);
  });

  /** The region's pages the kernel reports written (not write-protected) now, by index. */
  function unarmedPages(): number[] {
    const start = model.addrOf(0, 0);
    const scan = pagemapScan(t.pid, start, start + BigInt(PAGES * PAGE), { writeProtect: false, categories: PAGE_IS_WRITTEN, categoryMask: PAGE_IS_WRITTEN, returnMask: PAGE_IS_WRITTEN });
    const pages: number[] = [];
    for (let i = 0; i < scan.length; i += 3) for (let a = scan[i]!; a < scan[i + 1]!; a += BigInt(PAGE)) pages.push(Number((a - start) / BigInt(PAGE)));
    return pages;
  }

  /** An increment, checked against the model: exact, and every page written since its parent is its own. */
  async function increment(step: string, securePages: "auto" | "fork" = "auto"): Promise<Set<bigint>> {
    const atFreeze = model.frozen();
    const written = model.written;
    model.written = new Set();
    const result = await snapshot(t.pid, { store, incremental: true, tracker: "write-protect", securePages });
    expect(result.frozenCopies, step).toBe(securePages === "fork" ? 1 : 0);
    expect(result.fullReason, step).toBeUndefined();
    const mem = await readCheckpointMemory(store, result.crid);
    expectNoMismatch(compareWithModel(mem, atFreeze), `${step} (CRID ${result.crid})`);
    expect([...written].filter((a) => !mem.ownData.has(a)), `${step}: pages written but not saved`).toEqual([]);
    return mem.ownData;
  }

  /** MADV_DONTNEED of region pages: what was written there is gone, not data to save. */
  async function zap(first: number, count: number): Promise<void> {
    await model.dontneed(0, first, count);
    for (let p = first; p < first + count; p++) model.written.delete(model.addrOf(0, p));
  }

  const hotPages = Array.from({ length: HOT }, (_, i) => i);

  it("written before every snapshot: left unarmed from the third increment on while their bytes change, every image exact", async () => {
    await snapshot(t.pid, { store, incremental: false, tracker: "write-protect" });
    model.written = new Set();
    expect(unarmedPages(), "a full snapshot arms every page").toEqual([]);
    const unarmed: number[][] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await model.write(0, 0, HOT, 10 + round);
      await model.write(0, HOT + round, 1, 50 + round); // a page written once
      if (round === 5) await zap(0, 4); // unarmed pages zapped: they must read as zeros
      await increment(`round ${round}`);
      unarmed.push(unarmedPages());
    }
    // Hot: written in two increments running (rounds 1 and 2), and changed since; left unarmed by
    // the next. Round 5 saved no data for the pages it zapped: they are armed by round 6, hot
    // again once written in two increments running (rounds 6 and 7).
    const expected = (round: number) => (round < 3 ? [] : round === 6 || round === 7 ? hotPages.slice(4) : hotPages);
    expect(unarmed).toEqual(unarmed.map((_, i) => expected(i + 1)));
  });

  it("no longer written: saved by the next two increments, the second arming them, then not again", async () => {
    const own: number[] = [];
    for (let round = ROUNDS + 1; round <= ROUNDS + 4; round++) {
      await model.write(0, HOT + 20 + (round % 8), 1, round); // something changes (never the same page twice running), the hot pages do not
      if (round === ROUNDS + 1) await zap(0, 2); // zapped while unarmed, and never written again
      const data = await increment(`round ${round}`);
      own.push(hotPages.filter((p) => data.has(model.addrOf(0, p))).length);
    }
    // Saved unchanged by the next two: the first leaves them unarmed and finds their bytes as it
    // saved them (cooled); the second arms them, its scan reporting them written while they were
    // unprotected. Then never again. The two zapped hold nothing to save.
    expect(own).toEqual([HOT - 2, HOT - 2, 0, 0]);
    expect(unarmedPages()).toEqual([]);
  });

  it("read from a frozen copy after the thaw: hashed there, and left unarmed while they change", async () => {
    const unarmed: number[][] = [];
    for (let round = 1; round <= 4; round++) {
      await model.write(0, 0, HOT, 100 + round);
      await increment(`frozen copy, round ${round}`, "fork");
      unarmed.push(unarmedPages());
    }
    // Armed since the last test: written in rounds 1 and 2, hot from round 2's image on.
    expect(unarmed).toEqual([[], [], hotPages, hotPages]);
  });
});

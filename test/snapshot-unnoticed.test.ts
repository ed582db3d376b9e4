// A checkpoint never harms its target (docs/design.md decisions 4 and 5): progress_target, whose
// two threads check their memory, the monotonic clock, nanosleep (no EINTR), a pipe and their ids
// on every iteration, is snapshotted incrementally a thousand times, every 10 ms, with the best
// tracker: it must notice nothing (errors=0, signals=0), keep progressing, and exit normally
// writing its output file. (A killed `cr snapshot`: snapshot-killed.test.ts.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { snapshot } from "@cr/core";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir } from "./harness.js";
import { checkStore, report } from "./target-report.js";

const N_SNAPSHOTS = Number(process.env.CR_TEST_SNAPSHOTS ?? 1000);

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

describe("a checkpoint goes unnoticed", () => {
  it("1000 incremental snapshots every 10 ms: no error, no signal, progress, clean exit", async () => {
    const dir = tmpDir("cr-unnoticed-");
    const store = join(dir, "store");
    const outfile = join(dir, "out.txt");
    const t = await startFixture("progress_target", [outfile]);
    await t.waitReady();
    const before = await report(t);
    const started = Date.now();
    let downtimeSum = 0;
    let downtimeMax = 0;
    let fulls = 0;
    const trackers = new Set<string>();
    let last = before;
    for (let i = 0; i < N_SNAPSHOTS; i++) {
      const r = await snapshot(t.pid, { store, incremental: true });
      trackers.add(r.tracker);
      downtimeSum += r.downtimeMs;
      downtimeMax = Math.max(downtimeMax, r.downtimeMs);
      if (r.parent === null || r.fullReason) fulls++;
      if (i % 100 === 99) {
        const now = await report(t);
        expect(now.errors, `after ${i + 1} snapshots: ${now.line}`).toBe(0);
        expect(now.signals, `after ${i + 1} snapshots: ${now.line}`).toBe(0);
        expect(now.iterations, `after ${i + 1} snapshots the target progresses`).toBeGreaterThan(last.iterations);
        last = now;
      }
      await sleep(10);
    }
    const elapsed = Date.now() - started;
    console.log(
      `${N_SNAPSHOTS} snapshots of progress_target in ${elapsed} ms, tracker ${[...trackers].join(",")}, ` +
        `downtime mean ${(downtimeSum / N_SNAPSHOTS).toFixed(2)} ms max ${downtimeMax.toFixed(2)} ms, ${fulls} full image(s)`,
    );
    const after = await report(t);
    expect(after.errors, after.line).toBe(0);
    expect(after.signals, after.line).toBe(0);
    expect(after.iterations).toBeGreaterThan(before.iterations + 100);
    expect(fulls, "only the first image is full").toBe(1);

    const exitLine = await t.command("exit", 10_000);
    expect((await t.waitExit(10_000)).code).toBe(0);
    expect(exitLine).toMatch(/ errors=0 signals=0 /);
    expect(readFileSync(outfile, "utf8")).toBe(`${exitLine}\n`);
    expect((await checkStore(store)).images.length).toBe(N_SNAPSHOTS);
  }, 240_000);
});

// Restart failures (issue 4): a corrupt image, a REF to a missing image, a changed mapped
// file, a taken PID. Each gives one clear error line, a non-zero exit, and leaves no process.
import { copyFileSync, chmodSync, openSync, readFileSync, unlinkSync, writeSync, closeSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { snapshot, Store } from "@cr/core";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { pidAlive, restartAndWait, snapshotAndKill, startWorkload, waitPidFree, type Run, type Workload } from "./restart-helpers.js";

let dir: string;
const running: Run[] = [];
const heap = (): Workload => ({ name: "heap_checksum", command: fixture("heap_checksum"), args: ["OUT", "16", "200000", "50"], writesOut: true });

beforeAll(() => {
  dir = tmpDir("cr-restart-errors-");
});
afterEach(async () => {
  for (const run of running.splice(0)) {
    run.child.kill("SIGKILL");
    await run.exited;
  }
});
afterAll(() => cleanupTmp());

function start(w: Workload, tag: string): Run {
  const run = startWorkload(w, dir, tag);
  running.push(run);
  return run;
}

/** One line on stderr, exit non-zero, and nothing left under the saved PID. */
function expectCleanFailure(result: { code: number | null; stderr: string }, pid: number, pattern: RegExp): void {
  expect(result.code, result.stderr).not.toBe(0);
  const lines = result.stderr.trim().split("\n").filter((l) => !l.startsWith("cr: warning:"));
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(pidAlive(pid), `a process is left at PID ${pid}`).toBe(false);
}

describe("restart refuses cleanly", () => {
  it("a corrupt image (damaged page data): the half-built process is killed", async () => {
    const store = join(dir, "corrupt");
    const run = start(heap(), "corrupt");
    const crid = await snapshotAndKill(run, store, 300);
    const path = Store.open(store, { create: false }).imagePath("main", crid);
    const size = readFileSync(path).length;
    chmodSync(path, 0o600);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from("garbage!"), 0, 8, Math.floor(size / 2)); // inside the page data
    closeSync(fd);
    const result = await restartAndWait(store, crid);
    expectCleanFailure(result, run.pid, /CRID \d+ failed at step "(fill memory|read the image)".*(hash|checksum)/i);
  });

  it("a REF to a missing image", async () => {
    const store = join(dir, "missing-ref");
    const run = start(heap(), "missing-ref");
    await sleep(200);
    const full = await snapshot(run.pid, { store, incremental: false });
    await sleep(100);
    const inc = await snapshot(run.pid, { store, incremental: true, after: "kill" });
    await run.exited;
    await waitPidFree(run.pid);
    unlinkSync(Store.open(store, { create: false }).imagePath("main", full.crid));
    const result = await restartAndWait(store, inc.crid);
    expectCleanFailure(result, run.pid, new RegExp(`failed at step "read the image".*${full.crid}`));
  });

  it("a mapped file that changed since the checkpoint (and --force overrides)", async () => {
    const store = join(dir, "changed");
    const binary = join(dir, "heap_copy");
    copyFileSync(fixture("heap_checksum"), binary);
    const run = start({ ...heap(), name: "heap_copy", command: binary }, "changed");
    const crid = await snapshotAndKill(run, store, 300);
    appendFileSync(binary, "x");
    const result = await restartAndWait(store, crid);
    expectCleanFailure(result, run.pid, new RegExp(`mapped file ${binary} changed.*--force`));
  });

  it("a taken PID", async () => {
    const store = join(dir, "taken");
    const run = start(heap(), "taken");
    await sleep(200);
    const shot = await snapshot(run.pid, { store, incremental: false });
    const result = await restartAndWait(store, shot.crid);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toMatch(new RegExp(`^cr: .*PID ${run.pid} is taken by heap_checksum.*--any-pid`));
  });
});

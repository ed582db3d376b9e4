// Restart failures (issue 4): a corrupt image, a REF to a missing image, a changed mapped
// file, a taken PID. Each gives one clear error line, a non-zero exit, and leaves no process.
import { createHash } from "node:crypto";
import { copyFileSync, chmodSync, openSync, readFileSync, statSync, truncateSync, unlinkSync, writeSync, closeSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { snapshot, Store } from "@cr/core";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { advance, gatedReference, startGated, type Gated } from "./store-helpers.js";
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

/** Overwrites bytes in the middle of the image of `crid`: inside its page data. */
function damagePageData(store: string, crid: bigint): void {
  const path = Store.open(store, { create: false }).imagePath("main", crid);
  const size = statSync(path).size;
  chmodSync(path, 0o600);
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.from("garbage!"), 0, 8, Math.floor(size / 2));
  closeSync(fd);
}

/** Size, mtime and content of a file. */
function fileState(path: string): { size: number; mtimeNs: bigint; hash: string } {
  const st = statSync(path, { bigint: true });
  return { size: Number(st.size), mtimeNs: st.mtimeNs, hash: createHash("sha256").update(readFileSync(path)).digest("hex") };
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
    damagePageData(store, crid);
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

describe("a failed restart leaves the program's files as they were", () => {
  /** gated_checksum: OUT is O_APPEND, stdout O_WRONLY; both grow as the test opens the gate. */
  const STEPS = 600;
  let g: Gated;
  let ref: Buffer;

  beforeAll(async () => {
    ({ g, ref } = await gatedReference(dir, "gated-files", 16, STEPS, 8));
  });

  it('both outputs byte-identical with their mtimes after a restart that fails at "fill memory"; the intact checkpoint then restarts without --force, cutting them back', async () => {
    const store = join(dir, "files");
    const { run, stdout } = startGated(g, dir, "files");
    running.push(run);
    await advance(g.gate, stdout, 200);
    const intact = (await snapshot(run.pid, { store, incremental: false })).crid;
    await advance(g.gate, stdout, 400);
    const damaged = (await snapshot(run.pid, { store, incremental: false, after: "kill" })).crid;
    await run.exited;
    await waitPidFree(run.pid);
    damagePageData(store, damaged);
    const before = [fileState(run.out), fileState(stdout)];

    const failed = await restartAndWait(store, damaged);
    expectCleanFailure(failed, run.pid, /failed at step "fill memory"/);
    expect([fileState(run.out), fileState(stdout)]).toEqual(before);

    truncateSync(g.gate, STEPS);
    const restarted = await restartAndWait(store, intact);
    expect(restarted.code, restarted.stderr).toBe(0);
    for (const path of [run.out, stdout]) {
      expect(restarted.stderr).toMatch(new RegExp(`fd \\d+ \\(${path}\\) cut back to its saved \\d+ bytes: the \\d+ bytes written after the checkpoint are dropped`));
    }
    expect(readFileSync(run.out).equals(ref)).toBe(true);
  });

  it("--keep-files leaves an output that grew as it is: an O_APPEND writer appends after what it found", async () => {
    const store = join(dir, "keep-files");
    const { run, stdout } = startGated(g, dir, "keep-files");
    running.push(run);
    await advance(g.gate, stdout, 200);
    const crid = (await snapshot(run.pid, { store, incremental: false, after: "kill" })).crid;
    await run.exited;
    await waitPidFree(run.pid);
    const saved = statSync(run.out).size;
    appendFileSync(run.out, "written after the checkpoint\n");
    truncateSync(g.gate, STEPS);
    const restarted = await restartAndWait(store, crid, ["--keep-files"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stderr).toMatch(/fd \d+ \(.*gated-files-keep-files.out\) grew since the checkpoint: kept as it is \(--keep-files\); the program's appends go after them/);
    const expected = Buffer.concat([ref.subarray(0, saved), Buffer.from("written after the checkpoint\n"), ref.subarray(saved)]);
    expect(readFileSync(run.out).equals(expected)).toBe(true);
  });
});

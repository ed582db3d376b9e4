// Output equivalence (issue 4): an uninterrupted run and a run snapshotted at a random moment,
// killed and restarted from that snapshot write byte-identical output. (Chains: restart-chains.test.ts.)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTmp, fixture, tmpDir } from "./harness.js";
import { makeInput, PERL_SCRIPT, PYTHON_SCRIPT, python3Binary, reference, restartAndWait, snapshotAndKill, sooner, startWorkload, waitPidFree, type Workload } from "./restart-helpers.js";

let dir: string;
const workloads: Workload[] = [];

beforeAll(() => {
  dir = tmpDir("cr-restart-");
  makeInput(join(dir, "input.bin"), 48);
  writeFileSync(join(dir, "dict.py"), PYTHON_SCRIPT);
  writeFileSync(join(dir, "dict.pl"), PERL_SCRIPT);
  const python3 = python3Binary();
  workloads.push(
    { name: "heap_checksum", command: fixture("heap_checksum"), args: ["OUT", "64", "12000", "50"], writesOut: true },
    { name: "gzip", command: "gzip", args: ["-c", "-6", join(dir, "input.bin")] },
    // Long enough (~2 s here) that a snapshot 15-60% into the run lands before its end, cr's own start included.
    { name: "sha256sum", command: "sha256sum", args: Array<string>(16).fill(join(dir, "input.bin")) },
    { name: "python3", command: python3, args: [join(dir, "dict.py")] },
    { name: "perl", command: "perl", args: [join(dir, "dict.pl")] },
    { name: "threads_condvar", command: fixture("threads_condvar"), args: ["OUT", "3000", "100"], writesOut: true },
  );
});
afterAll(() => cleanupTmp());

/** A random moment in the middle of the run (printed on failure). */
function randomDelay(ms: number): number {
  return Math.round(ms * (0.15 + Math.random() * 0.45));
}

// The workloads run side by side (three at a time, vitest.config.ts): each has its own files and
// store, and drives cr through the CLI only.
describe.concurrent("restart gives the output of an uninterrupted run", () => {
  for (const name of ["heap_checksum", "gzip", "sha256sum", "python3", "perl", "threads_condvar"]) {
    it(name, async () => {
      const w = workloads.find((x) => x.name === name)!;
      const ref = await reference(w, dir);
      const store = join(dir, `store-${name}`);
      const delay = randomDelay(ref.ms);
      const { run, crid } = await sooner(async (scale) => {
        const run = startWorkload(w, dir, "cut");
        return { run, crid: await snapshotAndKill(run, store, delay * scale) };
      });
      const restarted = await restartAndWait(store, crid);
      expect(restarted.stderr, `snapshot after ${delay} ms`).toMatch(/restarted CRID/);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(readFileSync(run.out).equals(ref.output), `output differs (snapshot after ${delay} ms of ${ref.ms})`).toBe(true);
    });
  }
});

describe("one CRID", () => {
  it("the same CRID restarted twice gives the right output both times", async () => {
    const w = workloads.find((x) => x.name === "heap_checksum")!;
    const ref = await reference(w, dir, "twice-ref");
    const store = join(dir, "twice");
    const delay = randomDelay(ref.ms);
    const { run, crid } = await sooner(async (scale) => {
      const run = startWorkload(w, dir, "twice");
      return { run, crid: await snapshotAndKill(run, store, delay * scale) };
    });
    for (let i = 0; i < 2; i++) {
      const restarted = await restartAndWait(store, crid);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(readFileSync(run.out).equals(ref.output), `restart ${i + 1}`).toBe(true);
      await waitPidFree(run.pid);
    }
  });
});

// Output equivalence of incremental chains (issues 4 and 16), shared by the restart-chains files:
// a workload snapshotted 1 full + 20 incremental times at random moments, killed, and restarted
// from the middle of its chain writes what an uninterrupted run writes.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { makeWordText, PYTHON_SCRIPT, PYTHON_SHM_SCRIPT, python3Binary, reference, restartAndWait, snapshotChain, sooner, startWorkload, waitPidFree, type Workload } from "./restart-helpers.js";

/** The chain workloads, by name, their inputs in `dir`. Long enough that 20 snapshots land before the end. */
function chainWorkloads(dir: string): Workload[] {
  const python3 = python3Binary();
  return [
    { name: "python3-long", command: python3, args: [join(dir, "dict.py"), "40"], frozenCopies: true },
    { name: "heap_checksum-long", command: fixture("heap_checksum"), args: ["OUT", "64", "30000", "50"], writesOut: true, frozenCopies: true },
    { name: "threads_condvar-long", command: fixture("threads_condvar"), args: ["OUT", "8000", "100"], writesOut: true, frozenCopies: true },
    // A shared anonymous mapping held by the one process (Python's mmap.mmap(-1, n)).
    { name: "python3-shm", command: python3, args: [join(dir, "shm.py"), "40"] },
    { name: "xz", command: "xz", args: ["-6", "-T1", "-c", join(dir, "words.txt")] },
  ];
}

/** A describe of the chain test of each workload named, one at a time (the chains are taken in this process, snapshot() of @cr/core). */
export function describeChains(names: string[]): void {
  let dir: string;
  let workloads: Workload[] = [];
  beforeAll(() => {
    dir = tmpDir("cr-chains-");
    if (names.includes("xz")) makeWordText(join(dir, "words.txt"), 1_500_000);
    writeFileSync(join(dir, "dict.py"), PYTHON_SCRIPT);
    writeFileSync(join(dir, "shm.py"), PYTHON_SHM_SCRIPT);
    workloads = chainWorkloads(dir);
  });
  afterAll(() => cleanupTmp());

  describe("incremental chains", () => {
    for (const name of names) {
      it(`${name}: 1 full snapshot and 20 increments, restart from the middle of the chain`, async () => {
        const w = workloads.find((x) => x.name === name)!;
        const ref = await reference(w, dir);
        const store = join(dir, `chain-${name}`);
        const { run, crids } = await sooner(async (scale) => {
          const run = startWorkload(w, dir, "chain");
          await sleep(Math.min(100, ref.ms / 10) * scale);
          return { run, crids: await snapshotChain(run, store, 21, ref.ms * 0.5 * scale, w.frozenCopies) };
        });
        run.child.kill("SIGKILL");
        await run.exited;
        await waitPidFree(run.pid);
        const restarted = await restartAndWait(store, crids[10]!);
        expect(restarted.code, restarted.stderr).toBe(0);
        expect(readFileSync(run.out).equals(ref.output)).toBe(true);
      }, 180_000); // a hang guard: each chain runs its workload twice, longer on a loaded machine
    }
  });
}

// A snapshot of a process tree never harms it (issue 19): `cr snapshot` killed with SIGKILL at
// random moments while it freezes a tree of 8 processes leaves every process running and correct;
// a tree whose members fork and exit all the time gets an image or one clear line, never harm;
// a restart whose tree has a PID taken is refused in one line, and nothing is left running.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli, spawnCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { killTree, startWorkers, treeOf, waitPidFree, type Workers } from "./restart-helpers.js";
import { checkStore, readUntil, waitUntraced } from "./target-report.js";

const started: ChildProcess[] = [];
afterAll(async () => {
  for (const child of started) await killTree(child.pid!);
  cleanupTmp();
});

/** Every process of the tree runs on, untraced, with no error, and has worked since `before`. */
async function expectUnharmed(w: Workers, before: { rounds: bigint }[], what: string): Promise<{ rounds: bigint; errors: bigint }[]> {
  for (const pid of w.pids) {
    const s = await waitUntraced(pid);
    expect(s.tracer, `${what}: process ${pid} is still traced`).toBe(0);
    expect(s.state, `${what}: process ${pid} is stopped`).not.toMatch(/^[tT]$/);
  }
  const now = await readUntil(w.slots, (slots) => slots.every((slot, i) => slot.rounds > before[i]!.rounds));
  now.forEach((slot, i) => {
    expect(slot.errors, `${what}: process ${w.pids[i]} found an error`).toBe(0n);
    expect(slot.rounds, `${what}: process ${w.pids[i]} works on`).toBeGreaterThan(before[i]!.rounds);
  });
  return now;
}

describe("a snapshot of a process tree", () => {
  it("killed with SIGKILL at random moments, 30 times, while it freezes 8 processes: every one runs on correctly", async () => {
    const dir = tmpDir("cr-tree-killed-");
    const store = join(dir, "store");
    const w = await startWorkers(dir, started, 8);
    expect(treeOf(w.root).sort()).toEqual([...w.pids].sort());
    const args = ["snapshot", String(w.root), "--incremental", "--store", store];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^full of 8 processes/);
    const typical = (await runCli(args)).ms;
    let last = w.slots();
    for (let k = 0; k < 30; k++) {
      const child = spawnCli(args);
      const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
      const delay = Math.random() * typical;
      await Promise.race([sleep(delay), exited]);
      child.kill("SIGKILL");
      await exited;
      last = await expectUnharmed(w, last, `kill ${k} after ${delay.toFixed(0)} ms`);
    }
    await checkStore(store, { afterKills: true });
    const after = await runCli(args);
    expect(after.code, after.stderr).toBe(0);
    await checkStore(store); // the next writer removed what a killed one left
    expect((await runCli(["verify", "--store", store])).code).toBe(0);
  }, 240_000);

  it("of a tree whose members fork and exit all the time: an image or one clear line, and no harm", async () => {
    const dir = tmpDir("cr-tree-churn-");
    const store = join(dir, "store");
    // Every iteration forks a child that exits at once: the tree changes while cr freezes it.
    const churn = spawn("bash", ["-c", "while :; do /bin/true; (:) ; done"], { stdio: "ignore" });
    started.push(churn);
    await sleep(100);
    let saved = 0;
    for (let k = 0; k < 10; k++) {
      const r = await runCli(["snapshot", String(churn.pid), "--store", store]);
      if (r.code === 0) saved++;
      else expect(r.stderr.trimEnd().split("\n"), r.stderr).toEqual([expect.stringMatching(/^cr: process \d+ \(.*\) .* each time cr froze the tree/)]);
      const s = await waitUntraced(churn.pid!);
      expect(s.tracer).toBe(0);
      expect(s.state).not.toMatch(/^[tT]$/);
    }
    expect(saved, "no snapshot of the churning tree succeeded").toBeGreaterThan(0);
    await checkStore(store);
  }, 120_000);

  it("restarted while one of its PIDs is taken: one line, nothing restarted, nothing left running", async () => {
    const dir = tmpDir("cr-tree-taken-");
    const store = join(dir, "store");
    const w = await startWorkers(dir, started, 1);
    const snap = await runCli(["snapshot", String(w.root), "--store", store]);
    expect(snap.code, snap.stderr).toBe(0);
    // The root goes; its children hold their PIDs still.
    process.kill(w.root, "SIGKILL");
    await waitPidFree(w.root);
    const r = await runCli(["restart", "--store", store, "--at", snap.stdout.trim()]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^cr: .*PID (\d+) \(a process of the saved tree of 8\) is taken by tree_workers: nothing was restarted/)]);
    expect(w.pids.slice(1)).toContain(Number(/PID (\d+)/.exec(lines[0]!)![1]));
    // The PIDs are checked before anything is made: the root's is still free, the others' holders run on.
    expect(existsSync(`/proc/${w.root}`)).toBe(false);
    for (const pid of w.pids.slice(1)) process.kill(pid, "SIGKILL");
  }, 60_000);
});

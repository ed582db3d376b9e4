// Concurrent snapshots (store issue): two `cr snapshot` commands at once, on two different real
// processes, into one store: every CRID is handed out once, each process's images form their
// own chain (never one built on the other's), verify passes, and each process's newest image
// restarts to its own uninterrupted output. Then the same with two `cr snapshot --interval`
// loops running side by side. Real processes, the built CLI.
import type { ChildProcess } from "node:child_process";
import { readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryEntry } from "@cr/core";
import { runCli, spawnCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { restartAndWait, waitPidFree, type Run } from "./restart-helpers.js";
import { advance, gatedReference, snap, startGated, type Gated } from "./store-helpers.js";

const MB = 4;
const STEPS = 400;
/** Snapshot rounds with both commands started at once; steps each process takes between rounds. */
const ROUNDS = 5;
const STEPS_PER_ROUND = 10;
/** The --interval loops: period, how many images each takes at least, and how often the test opens the gates meanwhile. */
const INTERVAL_MS = 50;
const LOOP_IMAGES = 5;
const GATE_TICK_MS = 50;

interface Proc {
  name: string;
  g: Gated;
  run: Run;
  stdout: string;
  ref: Buffer;
  /** The gate's current step. */
  at: number;
  /** CRIDs of this process's images, oldest first. */
  crids: string[];
}

let dir: string;
let store: string;
let procs: Proc[];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = tmpDir("cr-store-concurrent-");
  store = join(dir, "store");
  // Two different computations (8 and 12 words per step): an image restarted from the other's chain would show.
  procs = [];
  for (const [name, writes] of [["gatedA", 8], ["gatedB", 12]] as const) {
    const { g, ref } = await gatedReference(dir, name, MB, STEPS, writes);
    const { run, stdout } = startGated(g, dir, "live");
    procs.push({ name, g, run, stdout, ref, at: 0, crids: [] });
  }
  expect(procs[0]!.ref.equals(procs[1]!.ref)).toBe(false);
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  for (const p of procs ?? []) {
    p.run.child.kill("SIGKILL");
    await p.run.exited;
  }
  cleanupTmp();
});

/** The whole store's history as `cr log --json` gives it, per branch, oldest first. */
async function history(): Promise<HistoryEntry[]> {
  const result = await runCli(["log", "--store", store, "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as HistoryEntry[]).reverse();
}

/** Each process's entries chain on its own previous image only; CRIDs are all distinct. */
async function expectOwnChains(): Promise<void> {
  const entries = await history();
  const all = entries.map((e) => e.crid);
  expect(new Set(all).size, `CRIDs ${all.join(" ")}`).toBe(all.length);
  for (const p of procs) {
    const mine = entries.filter((e) => e.pid === p.run.pid);
    expect(mine.map((e) => e.crid), p.name).toEqual(p.crids);
    expect(new Set(mine.map((e) => e.processKey)).size, p.name).toBe(1);
    expect(mine.map((e) => e.parent), `${p.name}: each image's parent is its own previous image`).toEqual([null, ...p.crids.slice(0, -1)]);
  }
  expect(entries.length).toBe(procs.reduce((n, p) => n + p.crids.length, 0));
}

async function verifyPasses(): Promise<void> {
  const verify = await runCli(["verify", "--store", store, "--json"]);
  expect(verify.code, verify.stderr).toBe(0);
  const images = (JSON.parse(verify.stdout) as { images: { crid: string; ok: boolean }[] }).images;
  expect(images.filter((i) => !i.ok)).toEqual([]);
  expect(images.length).toBe(procs.reduce((n, p) => n + p.crids.length, 0));
}

describe("two cr snapshot commands at once on two processes, one store", () => {
  it(`${ROUNDS} rounds of --incremental started together: distinct CRIDs, one chain per process, verify passes`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of procs) await advance(p.g.gate, p.stdout, (p.at += STEPS_PER_ROUND));
      const shots = await Promise.all(procs.map((p) => snap(["--store", store, "--incremental", String(p.run.pid)])));
      procs.forEach((p, i) => {
        expect(shots[i]!.parent, `${p.name} round ${round}`).toBe(p.crids.at(-1) ?? null);
        p.crids.push(shots[i]!.crid);
      });
    }
    // A fresh store hands out 1..2*ROUNDS, each once.
    expect(procs.flatMap((p) => p.crids).map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * ROUNDS }, (_, i) => i + 1));
    await expectOwnChains();
    await verifyPasses();
  }, 60_000);

  it(`two --interval ${INTERVAL_MS}ms loops side by side, ${LOOP_IMAGES} images each at least, while both processes run: the same, and each newest image restarts to its own output`, async () => {
    const before = procs.map((p) => p.crids.length);
    const loops = procs.map((p) => {
      const child = spawnCli(["snapshot", String(p.run.pid), "--store", store, "--incremental", "--interval", `${INTERVAL_MS}ms`]);
      children.add(child);
      const out = { stdout: "", stderr: "" };
      child.stdout!.on("data", (d: Buffer) => (out.stdout += d.toString()));
      child.stderr!.on("data", (d: Buffer) => (out.stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      return { child, out, exited };
    });
    // Both processes make progress while the loops run (the gates open 2 steps per tick), until
    // each loop has taken its images: however slow the machine, both loops run side by side.
    const taken = (loop: (typeof loops)[number]) => loop.out.stdout.split("\n").filter(Boolean).length;
    // The gates stop short of the end: a process that finished would end its loop early.
    while (loops.some((loop) => taken(loop) < LOOP_IMAGES) && loops.every((loop) => loop.child.exitCode === null)) {
      for (const p of procs) truncateSync(p.g.gate, (p.at = Math.min(p.at + 2, STEPS - 10)));
      await sleep(GATE_TICK_MS);
    }
    for (const loop of loops) loop.child.kill("SIGINT");
    for (const [i, loop] of loops.entries()) {
      expect(await loop.exited, `${procs[i]!.name} loop: ${loop.out.stderr.slice(-500)}`).toBe(0);
      children.delete(loop.child);
      procs[i]!.crids.push(...loop.out.stdout.split("\n").filter(Boolean));
    }
    // They ran side by side: each loop's CRIDs are spread among the other's.
    const [a, b] = procs.map((p, i) => p.crids.slice(before[i]).map(Number));
    expect(Math.min(...a!) < Math.max(...b!) && Math.min(...b!) < Math.max(...a!), `loop CRIDs ${a} / ${b}`).toBe(true);
    console.log(`--interval loops took ${procs.map((p, i) => p.crids.length - before[i]!).join(" and ")} snapshots`);
    await expectOwnChains();
    await verifyPasses();

    // Each process's newest image, restarted under its PID, runs to its own uninterrupted output.
    for (const p of procs) {
      p.run.child.kill("SIGKILL");
      await p.run.exited;
      await waitPidFree(p.run.pid);
    }
    for (const p of procs) {
      truncateSync(p.g.gate, STEPS);
      const result = await restartAndWait(store, BigInt(p.crids.at(-1)!));
      expect(result.code, `restart of ${p.name}'s CRID ${p.crids.at(-1)}: ${result.stderr}`).toBe(0);
      expect(readFileSync(p.run.out).toString(), `${p.name} restarted from CRID ${p.crids.at(-1)}`).toBe(p.ref.toString());
    }
  }, 60_000);
});

// Branch acceptance (store issue): a real process snapshotted 10 times on main; a branch at the
// 5th image costs no page data; the 5th image restarted on the branch is snapshotted 5 more
// times without naming the branch, and those images land on the branch with their own parent
// chain; both tips restart to the uninterrupted run's output; verify passes on both branches.
// Real processes, real files, the built CLI.
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryEntry } from "@cr/core";
import { runCli } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { restartAndWait, waitPidFree, type Run } from "./restart-helpers.js";
import { advance, du, gatedReference, snap, startGated, type Gated } from "./store-helpers.js";

/** gated_checksum: 4 MiB, 8 words written per step, 400 steps (a checksum line every 100). */
const MB = 4;
const STEPS = 400;
const WRITES = 8;
/** main: an image every 25 steps (25..250); b, forked at main's 5th (step 125): every 15 steps (140..200). */
const MAIN_IMAGES = 10;
const MAIN_EVERY = 25;
const FORK_AT = 5;
const B_IMAGES = 5;
const B_EVERY = 15;

let dir: string;
let store: string;
let g: Gated;
let ref: Buffer;
const running = new Set<Run>();

async function stop(run: Run): Promise<void> {
  run.child.kill("SIGKILL");
  await run.exited;
  running.delete(run);
  await waitPidFree(run.pid);
}

/** `cr log --branch B --json`, oldest first. */
async function log(branch: string): Promise<HistoryEntry[]> {
  const result = await runCli(["log", "--store", store, "--branch", branch, "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as HistoryEntry[]).reverse();
}

/** Allocated size of one file in KiB, as du counts it. */
const kib = (path: string) => (statSync(path).blocks * 512) / 1024;

beforeAll(async () => {
  dir = tmpDir("cr-store-branches-");
  store = join(dir, "store");
  ({ g, ref } = await gatedReference(dir, "gated", MB, STEPS, WRITES));
  expect(ref.toString()).toMatch(/^done /m);
});

afterAll(async () => {
  for (const run of running) {
    run.child.kill("SIGKILL");
    await run.exited;
  }
  cleanupTmp();
});

describe("cr branch of a real process's chain, and the restarted process's snapshots on the branch", () => {
  it("links without copying page data, continues the branch without --branch, keeps main as it was, restarts both tips to the reference output, and verifies", async () => {
    // main: 10 incremental snapshots of one process (CRIDs 1..10 of a fresh store).
    const { run, stdout } = startGated(g, dir, "main");
    running.add(run);
    const mainCrids: string[] = [];
    for (let i = 1; i <= MAIN_IMAGES; i++) {
      await advance(g.gate, stdout, i * MAIN_EVERY);
      const shot = await snap(["--store", store, "--incremental", String(run.pid)]);
      expect(shot.crid).toBe(String(i));
      expect(shot.parent).toBe(i === 1 ? null : String(i - 1));
      mainCrids.push(shot.crid);
    }
    await stop(run);
    const mainLog = await log("main");

    // The branch: hardlinks to the chain of CRID 5, no page data.
    const duBeforeBranch = du(store);
    const branched = await runCli(["branch", "b", "--from", String(FORK_AT), "--store", store, "--json"]);
    expect(branched.code, branched.stderr).toBe(0);
    expect((JSON.parse(branched.stdout) as { linked: string[] }).linked).toEqual(mainCrids.slice(0, FORK_AT));
    const duAfterBranch = du(store);
    expect(duAfterBranch - duBeforeBranch, "cr branch adds a directory and branch.json, no image data").toBeLessThanOrEqual(12);
    for (const crid of mainCrids.slice(0, FORK_AT)) {
      const a = statSync(join(store, "branches", "main", `${crid}.crimg`));
      const b = statSync(join(store, "branches", "b", `${crid}.crimg`));
      expect(b.ino, `b's ${crid}.crimg is main's file`).toBe(a.ino);
      expect(b.nlink).toBe(2);
    }

    // Restart CRID 5 on b where it stopped (step 125); its stdout goes to a fresh file so the test sees its steps.
    truncateSync(g.gate, FORK_AT * MAIN_EVERY);
    const bStdout = join(dir, "gated-b.stdout");
    writeFileSync(bStdout, "");
    const restarted = await runCli(["restart", "--store", store, "--at", String(FORK_AT), "--branch", "b", "--detach", "--json", "--inherit-fd", `1:${bStdout}`]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const pid = (JSON.parse(restarted.stdout) as { pid: number }).pid;
    expect(pid).toBe(run.pid);

    // 5 snapshots of the restarted process (not our child: killed by PID), without --branch: they go to b, on CRID 5.
    const bCrids: string[] = [];
    try {
      for (let i = 1; i <= B_IMAGES; i++) {
        await advance(g.gate, bStdout, FORK_AT * MAIN_EVERY + i * B_EVERY);
        const shot = await snap(["--store", store, "--incremental", String(pid)]);
        expect(shot.crid).toBe(String(MAIN_IMAGES + i));
        expect(shot.parent).toBe(i === 1 ? String(FORK_AT) : bCrids[i - 2]);
        bCrids.push(shot.crid);
      }
    } finally {
      process.kill(pid, "SIGKILL");
      await waitPidFree(pid);
    }

    // The histories: b is 1..5 then its own 11..15 chained on 5; main is still exactly 1..10.
    const bLog = await log("b");
    expect(bLog.map((e) => e.crid)).toEqual([...mainCrids.slice(0, FORK_AT), ...bCrids]);
    expect(bLog.map((e) => e.parent)).toEqual([null, "1", "2", "3", "4", "5", "11", "12", "13", "14"]);
    expect(new Set(bLog.slice(FORK_AT).map((e) => e.pid))).toEqual(new Set([pid]));
    expect(await log("main"), "main's history is untouched by b").toEqual(mainLog);
    expect(mainLog.map((e) => e.crid)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    expect(mainLog.map((e) => e.parent)).toEqual([null, "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

    // Disk: the 5 new snapshots cost exactly b's own 5 images (plus a little branch.json).
    const ownKiB = bCrids.reduce((n, c) => n + kib(join(store, "branches", "b", `${c}.crimg`)), 0);
    const grown = du(store) - duAfterBranch;
    const ownBytes = bLog.slice(FORK_AT).reduce((n, e) => n + e.bytes, 0);
    expect(ownKiB).toBeGreaterThan(B_IMAGES * 100);
    expect(ownKiB * 1024 - ownBytes, "b's image files take their recorded size (rounded up to whole blocks)").toBeGreaterThanOrEqual(0);
    expect(ownKiB * 1024 - ownBytes).toBeLessThan(B_IMAGES * 4096);
    expect(grown - ownKiB, `store grew ${grown} KiB, b's own images take ${ownKiB} KiB`).toBeGreaterThanOrEqual(0);
    expect(grown - ownKiB, `store grew ${grown} KiB, b's own images take ${ownKiB} KiB`).toBeLessThanOrEqual(16);
    console.log(`store: ${duBeforeBranch} KiB; after cr branch +${duAfterBranch - duBeforeBranch} KiB; after b's 5 snapshots +${grown} KiB (their images: ${ownKiB} KiB)`);
    for (const c of bCrids) expect(statSync(join(store, "branches", "b", `${c}.crimg`)).nlink, `${c}.crimg is b's alone`).toBe(1);

    // verify, branch by branch.
    for (const branch of ["main", "b"]) {
      const verify = await runCli(["verify", "--store", store, "--branch", branch, "--json"]);
      expect(verify.code, `cr verify --branch ${branch}: ${verify.stderr}`).toBe(0);
      const images = (JSON.parse(verify.stdout) as { ok: boolean; images: { crid: string; ok: boolean }[] }).images;
      expect(images.map((i) => `${i.crid}:${i.ok}`)).toEqual((branch === "main" ? mainCrids : bLog.map((e) => e.crid)).map((c) => `${c}:true`));
    }

    // Both tips run to the end and write the uninterrupted run's output. Both append to the
    // same OUT file: b's tip first, as b's process wrote it last; then main's tip finds it grown
    // (its own later output, cut back) rather than rewritten since its checkpoint.
    truncateSync(g.gate, STEPS);
    for (const [branch, crid] of [["b", bCrids.at(-1)!], ["main", mainCrids.at(-1)!]] as const) {
      const result = await restartAndWait(store, BigInt(crid), ["--branch", branch]);
      expect(result.code, `restart of ${branch} CRID ${crid}: ${result.stderr}`).toBe(0);
      expect(readFileSync(run.out).toString(), `output of ${branch} CRID ${crid} restarted`).toBe(ref.toString());
      await waitPidFree(run.pid);
    }
  }, 60_000);
});

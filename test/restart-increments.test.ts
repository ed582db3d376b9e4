// A restarted process keeps its write tracking: its first snapshot is an increment of the image
// it was restarted from (only what it wrote since), not a second full copy; and that increment
// restarts to the uninterrupted run's output. For a tree, every process's first snapshot is one.
// Real processes, the built CLI.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PageSource, pagesWhere } from "@cr/format";
import { probeKernel } from "@cr/native";
import { runCli } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { ImageCache, readCheckpointMemory } from "./image-pages.js";
import { killTree, restartAndWait, startWorkers, waitPidFree } from "./restart-helpers.js";
import { advance, gatedReference, snap, startGated, type Gated, type Shot } from "./store-helpers.js";

/** gated_checksum: 64 MiB of heap, 8 words written per step: a step dirties at most 8 pages. */
const MB = 64;
const STEPS = 300;
const WRITES = 8;

let dir: string;
let store: string;
let g: Gated;
let ref: Buffer;

const snapshot = (pid: number): Promise<Shot> => snap(["--store", store, "--incremental", String(pid)]);

beforeAll(async () => {
  dir = tmpDir("cr-restart-increments-");
  store = join(dir, "store");
  ({ g, ref } = await gatedReference(dir, "gated", MB, STEPS, WRITES));
});

const started: ChildProcess[] = [];
afterAll(async () => {
  for (const child of started) await killTree(child.pid!);
  cleanupTmp();
});

describe("the first snapshot of a restarted process", () => {
  it("is an increment of the image it was restarted from, with only the pages written since, and restarts correctly", async (ctx) => {
    if (!probeKernel().writeProtectScan.available) ctx.skip("no write-protect tracker on this kernel");
    const { run, stdout } = startGated(g, dir, "first");
    await advance(g.gate, stdout, 100);
    const full = await snapshot(run.pid);
    expect(full.parent).toBeNull();
    run.child.kill("SIGKILL");
    await run.exited;
    await waitPidFree(run.pid);

    const restartedStdout = join(dir, "gated-restarted.stdout");
    writeFileSync(restartedStdout, "");
    const restarted = await runCli(["restart", "--store", store, "--at", full.crid, "--detach", "--json", "--inherit-fd", `1:${restartedStdout}`]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const pid = (JSON.parse(restarted.stdout) as { pid: number }).pid;
    let next: Shot;
    try {
      await advance(g.gate, restartedStdout, 120);
      next = await snapshot(pid);
    } finally {
      process.kill(pid, "SIGKILL");
      await waitPidFree(pid);
    }
    expect(next.parent).toBe(full.crid);
    expect(next.tracker).toBe("write-protect");
    expect(next.fullReason).toBeUndefined();
    // 20 steps of 8 words, plus the stack, libc's data and the output buffer: far below the heap's 16384 pages.
    expect(next.dirtyPages).toBeLessThan(20 * WRITES + 64);
    expect(full.dirtyPages).toBeGreaterThan((MB << 8) - 1);

    truncateSync(g.gate, STEPS);
    const result = await restartAndWait(store, BigInt(next.crid));
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(run.out).toString()).toBe(ref.toString());
  }, 60_000);
});

describe("the first snapshot of a restarted tree", () => {
  it("is an increment for every process of it, not only the root, and the tree works on", async (ctx) => {
    if (!probeKernel().writeProtectScan.available) ctx.skip("no write-protect tracker on this kernel");
    const treeDir = join(dir, "tree");
    mkdirSync(treeDir);
    const treeStore = join(treeDir, "store");
    // 8 processes of 8 MiB each, writing one page a millisecond.
    const w = await startWorkers(treeDir, started, 8);
    const full = await snap(["--store", treeStore, String(w.root)]);
    await killTree(w.root);
    for (const pid of w.pids) await waitPidFree(pid);
    const restarted = await runCli(["restart", "--store", treeStore, "--at", full.crid, "--detach", "--json"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const next = await snap(["--store", treeStore, "--incremental", String(w.root)]);
    const slots = w.slots();
    await killTree(w.root);
    expect(next.parent).toBe(full.crid);
    expect(next.fullReason).toBeUndefined();
    const images = new ImageCache(treeStore);
    try {
      // An increment refers to its parent section for what did not change; a process matched to
      // no section of the parent would be saved whole, without one REF.
      const sections = images.open(BigInt(next.crid)).sections();
      const refs = sections.map((s) => pagesWhere(s.pageColumns(), (source) => source === PageSource.REF));
      expect(sections.length).toBe(8);
      sections.forEach((s, i) => expect(refs[i], `process ${s.pid}: no page refers to checkpoint ${full.crid}`).toBeGreaterThan(0));
    } finally {
      images.close();
    }
    // Shared memory no one wrote since the restart is not saved again: every page of it is still the full image's.
    const memory = await readCheckpointMemory(treeStore, BigInt(next.crid));
    const still = Array.from({ length: 256 }, (_, i) => memory.pages.get(w.still + BigInt(i * 4096))?.crid);
    expect(new Set(still), "the pages of the untouched shared memory, by the image holding them").toEqual(new Set([BigInt(full.crid)]));
    // Each child checks its memory and its parent; the root's parent is init after --detach.
    expect(slots.slice(1).map((s) => s.errors)).toEqual(w.pids.slice(1).map(() => 0n));
  }, 60_000);
});

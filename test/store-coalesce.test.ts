// Coalesce acceptance (store issue): a real process's 50-image chain with a branch sharing its
// old images is coalesced to its last 5 images; a periodic `cr snapshot` goes on through
// coalesces; a restart started during a coalesce works; and `cr coalesce` of that chain is
// killed with SIGKILL at random moments. Real processes, real files, the built CLI. (Kills of
// synthetic chains, and at each step of the swap: store-coalesce-killed.test.ts.)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot, type LogEntry } from "@cr/core";
import { cliMain, runCli, spawnCli } from "./cli.js";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { reference, restartAndWait, startWorkload, waitPidFree, type Run, type Workload } from "./restart-helpers.js";
import { copyStore, crids, identities, KEEP, killRounds, readStore, running, stopRunning, strays, synthetic, type Expect, type StoreState } from "./coalesce-kills.js";

/** The real chain: 50 snapshots, the branch `side` at the 30th. */
const IMAGES = 50;
const SIDE_AT = 30;
/** gated_checksum: 4 MiB, 16 words written per step, 10 steps between snapshots, 600 in all. */
const STEPS = 600;
const STEPS_PER_IMAGE = 10;

let dir: string;

/** Disk usage in KiB, each hardlinked file counted once. */
function du(path: string): number {
  return Number(execFileSync("du", ["-sk", path], { encoding: "utf8" }).split("\t")[0]);
}

/** The real workload: gated_checksum, its gate, its output files, the reference output. */
interface Gated {
  workload: Workload;
  run: Run;
  gate: string;
  stdout: string;
  ref: Buffer;
}

/** Opens the gate up to `step` and waits until the program has done every step before it. */
async function advance(g: Gated, step: number): Promise<void> {
  truncateSync(g.gate, step);
  const deadline = Date.now() + 10_000;
  while (readFileSync(g.stdout, "utf8").split("\n").at(-2) !== `at ${step}`) {
    if (Date.now() > deadline) throw new Error(`gated_checksum did not reach step ${step}: ${readFileSync(g.stdout, "utf8").slice(-200)}`);
    await sleep(2);
  }
}

/** Restarts CRID of `branch` under its old PID; the program runs to the end and must write the reference output. */
/**
 * The paced run's stdout ("at N" at each closed gate) depends on the pacing, and a restart cuts it
 * back to its checkpoint's size: after restarting an older CRID it is shorter than a newer one's,
 * which that one's restart refuses. It is not the output under test: it goes to /dev/null.
 */
const PACING_STDOUT = ["--inherit-fd", "1:/dev/null"];

async function restartMatches(g: Gated, store: string, branch: string, crid: string): Promise<void> {
  await waitPidFree(g.run.pid);
  const restarted = await restartAndWait(store, BigInt(crid), ["--branch", branch, ...PACING_STDOUT]);
  expect(restarted.code, `restart of ${branch} CRID ${crid}: ${restarted.stderr}`).toBe(0);
  expect(readFileSync(g.run.out).equals(g.ref), `output of ${branch} CRID ${crid} restarted`).toBe(true);
}

let real: { gated: Gated; template: string; crids: string[]; before: StoreState };

beforeAll(async () => {
  dir = tmpDir("cr-store-coalesce-");
  const workload: Workload = { name: "gated", command: fixture("gated_checksum"), args: ["OUT", join(dir, "gate"), "4", String(STEPS), "16"], writesOut: true };
  writeFileSync(join(dir, "gate"), "");
  truncateSync(join(dir, "gate"), STEPS);
  const ref = (await reference(workload, dir)).output;
  expect(ref.toString()).toMatch(/^done /m);
  truncateSync(join(dir, "gate"), 0);
  const run = startWorkload(workload, dir, "real");
  running.add(run.child);
  const gated: Gated = { workload, run, gate: join(dir, "gate"), stdout: join(dir, "gated-real.stdout"), ref };
  const template = join(dir, "real-template");
  const list: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    await advance(gated, (i + 1) * STEPS_PER_IMAGE);
    // Taken in this process (the CLI's snapshot is tested elsewhere): fifty `cr` processes took
    // minutes of a loaded machine before the coalesce tests could start.
    const result = await snapshot(run.pid, { store: template, incremental: i > 0 });
    expect(String(result.parent), `image ${i}`).toBe(i === 0 ? "null" : list[i - 1]);
    expect(result.fullReason, `image ${i}`).toBeUndefined();
    list.push(String(result.crid));
  }
  const branched = await runCli(["branch", "side", "--from", list[SIDE_AT - 1]!, "--store", template]);
  expect(branched.code, branched.stderr).toBe(0);
  run.child.kill("SIGKILL");
  await run.exited;
  running.delete(run.child);
  // Restarted runs go to the end.
  truncateSync(gated.gate, STEPS);
  real = { gated, template, crids: list, before: await readStore(template) };
}, 240_000); // a hang guard: a loaded machine is slow

afterAll(async () => {
  await stopRunning();
  cleanupTmp();
});

describe("cr coalesce --keep-last 5 of a real process's 50-image chain, with a branch sharing its old images", () => {
  it("keeps main's last 5 restartable, leaves side restartable and its files shared, gives back the space only main used, and verifies", async () => {
    const store = copyStore(real.template, join(dir, "real-a"));
    const mainBefore = real.before.entries.get("main")!;
    const sideFiles = () => real.crids.slice(0, SIDE_AT).map((c) => statSync(join(store, "branches", "side", `${c}.crimg`)).ino);
    const sideInodes = sideFiles();
    const duBefore = du(store);

    const result = await runCli(["coalesce", "--store", store, "--keep-last", String(KEEP), "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { kept: string[]; removed: string[]; rewritten: string[] };
    expect(summary.kept).toEqual(real.crids.slice(IMAGES - KEEP));
    expect(summary.removed).toEqual(real.crids.slice(0, IMAGES - KEEP));

    const after = await readStore(store);
    const main = after.entries.get("main")!;
    expect(crids(main)).toEqual(real.crids.slice(IMAGES - KEEP));
    expect(main[0]!.parent).toBeNull();
    for (const [key, digest] of after.digests) expect(digest, `memory of ${key}`).toBe(real.before.digests.get(key));
    expect(identities(after.entries.get("side"))).toEqual(identities(real.before.entries.get("side")));
    expect(sideFiles(), "side's images are the same files").toEqual(sideInodes);

    // Freed: the images only main linked (31..45 and its old 46..50), less the rewritten 46..50.
    const bytes = (entries: LogEntry[]) => entries.reduce((n, e) => n + e.bytes, 0);
    const expectedKiB = (bytes(mainBefore.slice(SIDE_AT)) - bytes(main)) / 1024;
    const freedKiB = duBefore - du(store);
    expect(expectedKiB).toBeGreaterThan(2048);
    expect(Math.abs(freedKiB - expectedKiB), `freed ${freedKiB} KiB, images only main used: ${expectedKiB.toFixed(0)} KiB`).toBeLessThan(128 + expectedKiB * 0.02);

    const verify = await runCli(["verify", "--store", store]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(strays(store)).toEqual([]);

    // The graph: main's line ends at its new full image, and side's newest image, the next row,
    // starts in another column (not drawn as that image's parent).
    const graph = await runCli(["log", "--graph", "--store", store]);
    expect(graph.code, graph.stderr).toBe(0);
    const rows = graph.stdout.split("\n");
    const column = (crid: string) => rows.find((l) => new RegExp(`^[ |/]*\\* ${crid} `).test(l))?.indexOf("*");
    expect(rows.findIndex((l) => l.includes(`* ${real.crids[SIDE_AT - 1]} `)) - rows.findIndex((l) => l.includes(`* ${real.crids[IMAGES - KEEP]} `))).toBe(1);
    expect(column(real.crids[SIDE_AT - 1]!), graph.stdout).not.toBe(column(real.crids[IMAGES - KEEP]!));

    // Real restarts: the new full image, the newest, and side's newest (its chain is the old images).
    await restartMatches(real.gated, store, "main", real.crids[IMAGES - KEEP]!);
    await restartMatches(real.gated, store, "main", real.crids[IMAGES - 1]!);
    await restartMatches(real.gated, store, "side", real.crids[SIDE_AT - 1]!);
  }, 60_000);
});

describe("cr coalesce while cr snapshot --interval runs", () => {
  it("the periodic snapshot goes on: an image whose parent the coalesce rewrote is taken again, and the newest CRID restarts to the reference output", async () => {
    const gate = join(dir, "gate-interval");
    writeFileSync(gate, "");
    truncateSync(gate, STEPS / 2);
    const workload: Workload = { ...real.gated.workload, args: real.gated.workload.args.map((a) => (a === real.gated.gate ? gate : a)) };
    const run = startWorkload(workload, dir, "interval");
    running.add(run.child);
    const g: Gated = { workload, run, gate, stdout: join(dir, "gated-interval.stdout"), ref: real.gated.ref };
    await advance(g, STEPS / 2);
    const store = join(dir, "interval");
    const loop = spawnCli(["snapshot", String(run.pid), "--store", store, "--interval", "10ms"]);
    running.add(loop);
    let out = "";
    let err = "";
    loop.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    loop.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const loopExited = new Promise<number | null>((resolve) => loop.once("exit", (code) => resolve(code)));
    const taken = () => out.split("\n").filter(Boolean);
    const retries = () => err.split("\n").filter((l) => l.includes("taking it again")).length;
    while (taken().length <= KEEP && loop.exitCode === null) await sleep(10);
    // A snapshot in flight when a coalesce rewrites its parent is refused at commit; it takes a few coalesces to hit one.
    for (let i = 0; i < 40 && retries() === 0 && loop.exitCode === null; i++) {
      const coalesced = await runCli(["coalesce", "--store", store, "--keep-last", String(KEEP)]);
      expect(coalesced.code, coalesced.stderr).toBe(0);
    }
    expect(retries(), `snapshot loop stderr: ${err.slice(-500)}`).toBeGreaterThan(0);
    const count = taken().length;
    while (taken().length < count + 3 && loop.exitCode === null) await sleep(10);
    loop.kill("SIGINT");
    expect(await loopExited, `snapshot loop stderr: ${err.slice(-500)}`).toBe(0);
    running.delete(loop);
    const verify = await runCli(["verify", "--store", store]);
    expect(verify.code, verify.stderr).toBe(0);

    run.child.kill("SIGKILL");
    await run.exited;
    running.delete(run.child);
    truncateSync(gate, STEPS);
    await restartMatches(g, store, "main", taken().at(-1)!);
  }, 60_000);
});

/** Installed by the set-up (scripts/setup.sh). */
const strace = "/usr/bin/strace";

describe("cr restart while cr coalesce rewrites its branch", () => {
  it("a restart held (by strace) between reading branch.json and opening its chain (in its first read of the image) is not broken by a coalesce's swap: both succeed, and the process writes the reference output", async () => {
    const store = copyStore(real.template, join(dir, "during"));
    const last = real.crids.at(-1)!;
    await waitPidFree(real.gated.run.pid);
    const restart = await heldInRead(strace, join(store, "branches", "main", `${last}.crimg`), ["restart", "--store", store, "--at", last, ...PACING_STDOUT]);
    const coalesced = await runCli(["coalesce", "--store", store, "--keep-last", String(KEEP)]);
    expect(coalesced.code, coalesced.stderr).toBe(0);
    expect(await restart.exited, `cr restart: ${restart.stderr()}`).toBe(0);
    expect(readFileSync(real.gated.run.out).equals(real.gated.ref), "output of the restarted process").toBe(true);
    rmSync(store, { recursive: true, force: true });
  }, 60_000);
});

describe("cr verify while cr coalesce rewrites its branch", () => {
  it("a verify held (by strace) in its first read of its first image reports no damage after a coalesce removed and rewrote images it had listed: both succeed", async () => {
    const { template, want } = await synthetic(dir);
    const store = copyStore(template, join(dir, "verify-during"));
    const first = want.before.entries.get("main")![0]!.crid;
    // Held in its first read only: every image's chain opens the first image.
    const verify = await heldInRead(strace, join(store, "branches", "main", `${first}.crimg`), ["verify", "--store", store]);
    const coalesced = await runCli(["coalesce", "--store", store, "--keep-last", String(KEEP)]);
    expect(coalesced.code, coalesced.stderr).toBe(0);
    expect(await verify.exited, `cr verify: ${verify.stdout()}${verify.stderr()}`).toBe(0);
    expect(verify.stdout()).not.toMatch(/BAD/);
    for (const crid of want.kept) expect(verify.stdout()).toMatch(new RegExp(`^main\\s+${crid}\\s`, "m"));
    rmSync(store, { recursive: true, force: true });
  }, 60_000);
});

/**
 * `cr ARGS` under strace, which delays its first read (pread64) of `image` by 1.5 s, just after
 * opening it; resolves once cr is held there. (The read, not the open: the store opens a file
 * relative to its directory's descriptor, and strace -P matches such an open by that directory.)
 */
async function heldInRead(strace: string, image: string, args: string[]) {
  const hold = ["-qq", "-o", "/dev/null", "-e", "trace=pread64", "-P", image, "-e", "inject=pread64:delay_enter=1500000:when=1"];
  const tracer = spawn(strace, [...hold, process.execPath, cliMain, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(tracer);
  let stdout = "";
  let stderr = "";
  tracer.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  tracer.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    tracer.once("exit", (code) => {
      running.delete(tracer);
      resolve(code);
    }),
  );
  await readHeld(tracer.pid!);
  return { exited, stdout: () => stdout, stderr: () => stderr };
}

/** Waits until the process strace runs is stopped in pread64 (syscall 17; only the held one lasts). */
async function readHeld(stracePid: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  let seen = 0;
  while (seen < 3) {
    if (Date.now() > deadline) throw new Error("the command under strace never reached the held pread64");
    await sleep(50);
    const child = readFileSync(`/proc/${stracePid}/task/${stracePid}/children`, "utf8").trim();
    const inRead = child !== "" && readFileSync(`/proc/${child}/syscall`, "utf8").startsWith("17 ");
    seen = inRead ? seen + 1 : 0;
  }
}

describe("cr coalesce killed with SIGKILL", () => {
  it("at random moments of a coalesce of a real process's chain: the same, and kept CRIDs restart to the reference output", async () => {
    const want: Expect = { before: real.before, kept: real.crids.slice(IMAGES - KEEP) };
    // One round at a time: a restart takes the process's own PID.
    const phases = await killRounds(dir, real.template, want, 5, "real", 1, async (store, coalesced, round) => {
      if (round % 2 === 0) return;
      // The oldest CRID left: a rewritten full image, or the original first one.
      await restartMatches(real.gated, store, "main", coalesced ? want.kept[0]! : real.crids[0]!);
    });
    console.log("real-chain kills landed:", Object.fromEntries(phases));
  }, 300_000);
});

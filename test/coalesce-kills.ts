// `cr coalesce` killed with SIGKILL, and what must hold after (store-coalesce*.test.ts): every
// branch is as before or as after the coalesce, the next command recovers it, nothing is left
// behind, and every CRID still listed resolves to the memory it resolved to before.
import { execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { createBranch, memoryDigest, Store, syntheticChain, type LogEntry } from "@cr/core";
import { runCli, spawnCli } from "./cli.js";
import { sleep } from "./harness.js";

/** --keep-last of every coalesce here. */
export const KEEP = 5;

/** Processes a test started and must kill at its end (stopRunning). */
export const running = new Set<ChildProcess>();

/** Kills what is still running and waits for it (afterAll). */
export async function stopRunning(): Promise<void> {
  for (const child of running) child.kill("SIGKILL");
  await Promise.all([...running].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : null)));
}

/** A store copied with its hardlinks (cp -a): every test and round starts from the same state. */
export function copyStore(from: string, to: string): string {
  execFileSync("cp", ["-a", from, to]);
  return to;
}

/** What a store holds, read through core (which recovers a killed coalesce first). */
export interface StoreState {
  entries: Map<string, LogEntry[]>;
  /** `${branch}:${crid}` -> memory digest of the resolved chain. */
  digests: Map<string, string>;
}

/**
 * Memory digests by image (CRID and identity). An image file whose identity is unchanged, in a
 * store `cr verify` has just passed (every hash, every REF to the identity it names), resolves
 * to the memory it resolved to before: only rewritten images are digested again.
 */
const digestOf = new Map<string, string>();

/** What `path` holds (call after `cr verify` passed on it, or on a store never touched). */
export async function readStore(path: string): Promise<StoreState> {
  const store = Store.open(path, { create: false });
  const entries = new Map<string, LogEntry[]>();
  const digests = new Map<string, string>();
  for (const branch of store.branchNames()) {
    const list = store.branch(branch).entries;
    entries.set(branch, list);
    for (const e of list) {
      const image = `${e.crid}:${e.identity}`;
      if (!digestOf.has(image)) digestOf.set(image, await memoryDigest(store, branch, BigInt(e.crid)));
      digests.set(`${branch}:${e.crid}`, digestOf.get(image)!);
    }
  }
  return { entries, digests };
}

export const crids = (entries: LogEntry[] | undefined) => (entries ?? []).map((e) => e.crid);
export const identities = (entries: LogEntry[] | undefined) => (entries ?? []).map((e) => `${e.crid}=${e.identity}`);

/** Files a store command should have left nowhere: staging dirs, temporary files, unlisted images. */
export function strays(store: string): string[] {
  const out = readdirSync(store).filter((n) => n.endsWith(".tmp"));
  const root = join(store, "branches");
  for (const branch of readdirSync(root)) {
    if (branch.startsWith(".")) {
      out.push(`branches/${branch}`);
      continue;
    }
    const meta = JSON.parse(readFileSync(join(root, branch, "branch.json"), "utf8")) as { entries: LogEntry[] };
    const listed = new Set(["branch.json", ...meta.entries.map((e) => `${e.crid}.crimg`)]);
    for (const file of readdirSync(join(root, branch))) if (!listed.has(file)) out.push(`branches/${branch}/${file}`);
  }
  return out;
}

/** Where a killed coalesce of main stopped, read from what it left (before anything recovers it). */
export function leftover(store: string, before: StoreState): string {
  const root = join(store, "branches");
  const names = readdirSync(root);
  if (!names.includes("main")) return "between the two renames";
  if (names.includes(".main.old")) return "removing the old branch";
  if (names.includes(".main.new")) return existsSync(join(root, ".main.new", "branch.json")) ? "staged, before the swap" : "building the new branch";
  const meta = JSON.parse(readFileSync(join(root, "main", "branch.json"), "utf8")) as { entries: LogEntry[] };
  return meta.entries.length === before.entries.get("main")!.length ? "before it started" : "after it finished";
}

/** A store before its coalesce, and main's CRIDs after a complete one. */
export interface Expect {
  before: StoreState;
  kept: string[];
}

/**
 * After a killed coalesce: the next command (`cr verify`) recovers and passes, leaves no stray
 * file, main holds exactly its old images or exactly the kept ones, every CRID still listed
 * resolves to the memory it resolved to before, `side` is untouched, and gc finds nothing.
 * Returns whether main was coalesced.
 */
export async function checkRecovered(store: string, want: Expect, label: string): Promise<boolean> {
  const verify = await runCli(["verify", "--store", store]);
  expect(verify.code, `${label}: cr verify: ${verify.stderr}`).toBe(0);
  expect(strays(store), `${label}: left behind after cr verify`).toEqual([]);
  const after = await readStore(store);
  const main = after.entries.get("main");
  const coalesced = crids(main).length !== crids(want.before.entries.get("main")).length;
  if (coalesced) {
    expect(crids(main), label).toEqual(want.kept);
    expect(main![0]!.parent, `${label}: the oldest kept image is full`).toBeNull();
  } else {
    expect(identities(main), `${label}: main is the same files as before`).toEqual(identities(want.before.entries.get("main")));
  }
  expect(identities(after.entries.get("side")), `${label}: side`).toEqual(identities(want.before.entries.get("side")));
  expect([...after.entries.keys()], label).toEqual([...want.before.entries.keys()]);
  for (const [key, digest] of after.digests) expect(digest, `${label}: memory of ${key}`).toBe(want.before.digests.get(key));
  const gc = await runCli(["gc", "--store", store, "--json"]);
  expect(gc.code, gc.stderr).toBe(0);
  expect((JSON.parse(gc.stdout) as { removed: string[] }).removed, `${label}: cr gc`).toEqual([]);
  return coalesced;
}

/** Runs `cr coalesce --keep-last KEEP` and SIGKILLs it after `delayMs` (if it still runs). */
async function killCoalesce(store: string, delayMs: number): Promise<void> {
  const child = spawnCli(["coalesce", "--store", store, "--keep-last", String(KEEP)]);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await Promise.race([exited, sleep(delayMs)]);
  child.kill("SIGKILL");
  await exited;
  running.delete(child);
}

/** Wall time of an un-killed `cr coalesce` of a copy of `template`, process start to exit (median of 3: the machine is shared). */
async function coalesceDuration(template: string, copy: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    copyStore(template, copy);
    const started = performance.now();
    const result = await runCli(["coalesce", "--store", copy, "--keep-last", String(KEEP)]);
    expect(result.code, result.stderr).toBe(0);
    times.push(performance.now() - started);
    rmSync(copy, { recursive: true, force: true });
  }
  return times.sort((a, b) => a - b)[1]!;
}

/**
 * SIGKILL `cr coalesce` of a fresh copy of the template (in `dir`), `rounds` times, at uniform
 * random moments, `atOnce` rounds side by side (each on its own copy).
 */
export async function killRounds(dir: string, template: string, want: Expect, rounds: number, name: string, atOnce: number, after?: (store: string, coalesced: boolean, round: number) => Promise<void>): Promise<Map<string, number>> {
  const duration = await coalesceDuration(template, join(dir, `${name}-measure`));
  const phases = new Map<string, number>();
  const killRound = async (round: number) => {
    const store = copyStore(template, join(dir, `${name}-${round}`));
    const delay = Math.random() * duration;
    const label = `${name} round ${round}: killed after ${delay.toFixed(0)} of ${duration.toFixed(0)} ms`;
    await killCoalesce(store, delay);
    const phase = leftover(store, want.before);
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
    const coalesced = await checkRecovered(store, want, `${label} (${phase})`);
    await after?.(store, coalesced, round);
    if (!coalesced) {
      // The interrupted work can simply be done again.
      const again = await runCli(["coalesce", "--store", store, "--keep-last", String(KEEP)]);
      expect(again.code, again.stderr).toBe(0);
      expect(crids(Store.open(store, { create: false }).branch("main").entries), label).toEqual(want.kept);
    }
    rmSync(store, { recursive: true, force: true });
  };
  for (let first = 0; first < rounds; first += atOnce) {
    await Promise.all(Array.from({ length: Math.min(atOnce, rounds - first) }, (_, i) => killRound(first + i)));
  }
  return phases;
}

let built: Promise<{ template: string; want: Expect }> | undefined;

/** A synthetic store (built once): main, 10 images over 16 MiB of pages, so that the work after start-up takes a good part of a coalesce; side forked at its 4th image, with 2 images of its own. */
export function synthetic(dir: string): Promise<{ template: string; want: Expect }> {
  built ??= (async () => {
    const template = join(dir, "synthetic-template");
    const store = Store.open(template, { create: true });
    const main = await syntheticChain(store, { branch: "main", pages: 4096, images: 10, dirtyPerImage: 256 });
    createBranch(store, "side", main[3]!);
    await syntheticChain(store, { branch: "side", pages: 4096, images: 2, dirtyPerImage: 256, parent: main[3]!, seed: 2 });
    return { template, want: { before: await readStore(template), kept: main.slice(-KEEP).map(String) } };
  })();
  return built;
}

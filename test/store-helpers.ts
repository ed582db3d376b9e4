// Helpers for the store acceptance tests (store-branches, store-concurrent, store-bad-input):
// the gated_checksum workload paced by the test, disk usage, and a fingerprint of a store tree.
import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "./cli.js";
import { fixture, sleep } from "./harness.js";
import { reference, startWorkload, type Run, type Workload } from "./restart-helpers.js";

/** gated_checksum (see test/fixtures/gated_checksum.c) and the file whose size is its gate. */
export interface Gated {
  workload: Workload;
  gate: string;
}

/** gated_checksum writing OUT in `dir`: MB MiB of heap, STEPS steps of WRITES words; the gate closed. */
export function gatedWorkload(dir: string, name: string, mb: number, steps: number, writes: number): Gated {
  const gate = join(dir, `${name}.gate`);
  writeFileSync(gate, "");
  const workload: Workload = { name, command: fixture("gated_checksum"), args: ["OUT", gate, String(mb), String(steps), String(writes)], writesOut: true };
  return { workload, gate };
}

/** gatedWorkload, and the output of an uninterrupted run of it (its gate opened to the end first). */
export async function gatedReference(dir: string, name: string, mb: number, steps: number, writes: number): Promise<{ g: Gated; ref: Buffer }> {
  const g = gatedWorkload(dir, name, mb, steps, writes);
  truncateSync(g.gate, steps);
  return { g, ref: (await reference(g.workload, dir)).output };
}

/** Starts the workload (gate closed at 0 steps) as run `tag`; returns the run and the stdout file whose last line is "at N" when it waits at its gate. */
export function startGated(g: Gated, dir: string, tag: string): { run: Run; stdout: string } {
  truncateSync(g.gate, 0);
  const run = startWorkload(g.workload, dir, tag);
  return { run, stdout: join(dir, `${g.workload.name}-${tag}.stdout`) };
}

/** Opens the gate up to `step` and waits until the program reporting on `stdout` has done every step before it. */
export async function advance(gate: string, stdout: string, step: number): Promise<void> {
  truncateSync(gate, step);
  const deadline = Date.now() + 10_000;
  while (readFileSync(stdout, "utf8").split("\n").at(-2) !== `at ${step}`) {
    if (Date.now() > deadline) throw new Error(`gated_checksum did not reach step ${step}: ${readFileSync(stdout, "utf8").slice(-200)}`);
    await sleep(2);
  }
}

/** What `cr snapshot --json` reports, CRIDs as strings. */
export interface Shot {
  crid: string;
  parent: string | null;
  tracker: string;
  fullReason?: string;
  dirtyPages: number;
}

/** `cr snapshot ARGS --json` that must succeed; what it reports. */
export async function snap(args: string[]): Promise<Shot> {
  const result = await runCli(["snapshot", "--json", ...args]);
  if (result.code !== 0) throw new Error(`cr snapshot ${args.join(" ")} failed: ${result.stderr}`);
  const out = JSON.parse(result.stdout) as Shot;
  return { ...out, crid: String(out.crid), parent: out.parent === null ? null : String(out.parent) };
}

/** Disk usage in KiB, each hardlinked file counted once. */
export function du(path: string): number {
  return Number(execFileSync("du", ["-sk", path], { encoding: "utf8" }).split("\t")[0]);
}

/** A store copied with its hardlinks, owners, modes and times (cp -a). */
export function copyStore(from: string, to: string): string {
  execFileSync("cp", ["-a", from, to]);
  return to;
}

/**
 * Every path under `root` with what a change to it would alter: type, size, mode, owner,
 * inode, link count, mtime and ctime (nanoseconds). Access times are left out: reads may set them.
 */
export function storeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const path = rel ? join(root, rel) : root;
    const st = lstatSync(path, { bigint: true });
    const kind = st.isDirectory() ? "d" : st.isFile() ? "f" : st.isSymbolicLink() ? "l" : "?";
    out.set(rel || ".", `${kind} size=${st.size} mode=${st.mode.toString(8)} uid=${st.uid} ino=${st.ino} nlink=${st.nlink} mtime=${st.mtimeNs} ctime=${st.ctimeNs}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) walk(rel ? join(rel, name) : name);
  };
  walk("");
  return out;
}

/** The differences between two storeTree()s, one line each (empty when equal); `timesOf` paths are compared without mtime and ctime. */
export function treeDiff(before: Map<string, string>, after: Map<string, string>, timesOf: string[] = []): string[] {
  const out: string[] = [];
  const untimed = (path: string, s: string | undefined) => (s !== undefined && timesOf.includes(path) ? s.replace(/ mtime=\d+ ctime=\d+$/, "") : s);
  for (const [path, was0] of before) {
    const was = untimed(path, was0);
    const now = untimed(path, after.get(path));
    if (now === undefined) out.push(`removed ${path}`);
    else if (now !== was) out.push(`changed ${path}: ${was} -> ${now}`);
  }
  for (const path of after.keys()) if (!before.has(path)) out.push(`added ${path}: ${after.get(path)}`);
  return out;
}

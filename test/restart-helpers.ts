// Helpers for the restart tests: workloads whose output goes to files (stdin /dev/null), an
// uninterrupted reference run, and a run that is checkpointed, killed and restarted by `cr`.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { snapshot } from "@cr/core";
import { runCli, type CliResult } from "./cli.js";
import { fixture, sleep } from "./harness.js";
import { ImageCache } from "./image-pages.js";

/** The PIDs a test file starts: push each; every one still running is SIGKILLed after each test. */
export function killedAfterEach(): number[] {
  const started: number[] = [];
  afterEach(() => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended already: nothing to stop
      }
    }
  });
  return started;
}

export interface Workload {
  name: string;
  command: string;
  /** Arguments; OUT is replaced by the run's own output file. */
  args: string[];
  /** Whether the program writes its result to OUT itself (else to stdout). */
  writesOut?: boolean;
  /** Every fourth snapshot of a chain reads its pages from a frozen copy while the workload runs on and writes them. */
  frozenCopies?: boolean;
}

export interface Run {
  child: ChildProcess;
  pid: number;
  out: string;
  exited: Promise<number | null>;
}

/** Starts a workload with stdout/stderr to files in `dir` (named after `tag`). */
export function startWorkload(w: Workload, dir: string, tag: string): Run {
  const out = join(dir, `${w.name}-${tag}.out`);
  const stdoutPath = w.writesOut ? join(dir, `${w.name}-${tag}.stdout`) : out;
  const stdout = openSync(stdoutPath, "w");
  const stderr = openSync(join(dir, `${w.name}-${tag}.err`), "w");
  const args = w.args.map((a) => (a === "OUT" ? out : a));
  const child = spawn(w.command, args, { stdio: ["ignore", stdout, stderr], cwd: dir });
  closeSync(stdout);
  closeSync(stderr);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, pid: child.pid!, out, exited };
}

/** The uninterrupted run: its output and how long it took. `tag` names its files (tests running at once use their own). */
export async function reference(w: Workload, dir: string, tag = "ref"): Promise<{ output: Buffer; ms: number }> {
  const started = Date.now();
  const run = startWorkload(w, dir, tag);
  const code = await run.exited;
  if (code !== 0) throw new Error(`${w.name} reference run exited with ${code}: ${readFileSync(join(dir, `${w.name}-${tag}.err`), "utf8")}`);
  return { output: readFileSync(run.out), ms: Date.now() - started };
}

/** PID 1 reaps orphans slowly: a restarted process's PID may stay taken for a moment. */
export async function waitPidFree(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > deadline) throw new Error(`PID ${pid} still taken after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * The workload ended before cr caught it where the test wanted (it ran faster than its reference
 * did, the machine's load having fallen since): `sooner` starts it again.
 */
export class WorkloadEnded extends Error {}

/**
 * Whether the run ends within `ms` (a failed snapshot of it may come just before its exit event).
 * A snapshot made in this process traces the run, its child: the freeze's wait for it may reap
 * it as it exits, and then Node never hears of the exit, so its PID being gone counts too.
 */
async function ends(run: Run, ms = 2000): Promise<boolean> {
  return Promise.race([run.exited.then(() => true), sleep(ms).then(() => !existsSync(`/proc/${run.pid}`))]);
}

/**
 * Runs `attempt` with its moments scaled by 1, then 1/2, then 1/4 when the workload ended
 * before them: the moments come from a reference run's duration, which the load of the
 * machine changes from one run to the next.
 */
export async function sooner<T>(attempt: (scale: number) => Promise<T>): Promise<T> {
  for (let scale = 1; ; scale /= 2) {
    try {
      return await attempt(scale);
    } catch (error) {
      if (!(error instanceof WorkloadEnded) || scale <= 0.25) throw error;
    }
  }
}

/**
 * `cr snapshot --kill` at `delayMs` into the run, through the CLI as a user runs it; returns the
 * CRID. A run that ended first throws WorkloadEnded.
 */
export async function snapshotAndKill(run: Run, store: string, delayMs: number): Promise<bigint> {
  await sleep(delayMs);
  const result = await runCli(["snapshot", "--store", store, "--kill", String(run.pid)]);
  if (result.code !== 0) {
    if (await ends(run)) throw new WorkloadEnded(`${run.out}: the workload ended before its snapshot at ${delayMs} ms`);
    throw new Error(`cr snapshot --kill ${run.pid} failed: ${result.stderr}`);
  }
  await run.exited;
  await waitPidFree(run.pid);
  return BigInt(result.stdout.trim());
}

/**
 * `count` snapshots of a running workload (the first full, the rest increments; with
 * `frozenCopies`, one in four through a frozen copy), each at a random moment of its share of about `withinMs`, however long
 * each one takes. Throws
 * WorkloadEnded if it ends first: by then its PID may be another process's.
 */
export async function snapshotChain(run: Run, store: string, count: number, withinMs: number, frozenCopies = false): Promise<bigint[]> {
  const started = Date.now();
  const crids: bigint[] = [];
  const ended = (i: number) => new WorkloadEnded(`${run.out}: the workload ended after ${i} of ${count} snapshots`);
  for (let i = 0; i < count; i++) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) throw ended(i);
    try {
      const securePages = frozenCopies && i % 4 === 1 ? "fork" : "auto";
      crids.push((await snapshot(run.pid, { store, incremental: i > 0, after: "leave-running", securePages })).crid);
    } catch (error) {
      if (await ends(run)) throw ended(i);
      throw error;
    }
    await sleep(Math.max(5, started + (withinMs * (i + Math.random())) / count - Date.now()));
  }
  return crids;
}

/** `cr restart --at CRID --detach`: the restarted PID, noted in `started` (killedAfterEach) to be killed after the test. */
export async function restartDetached(started: number[], store: string, crid: bigint): Promise<number> {
  const restarted = await runCli(["restart", "--store", store, "--at", String(crid), "--detach"]);
  expect(restarted.code, restarted.stderr).toBe(0);
  const pid = Number(restarted.stdout.trim());
  expect(pid).toBeGreaterThan(0);
  started.push(pid);
  return pid;
}

/** Waits up to 10 s for `done()`. */
export async function waitFor(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !done(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error("timed out");
  }
}

/** `cr restart --at CRID` without --detach: cr waits and exits as the process does. */
export async function restartAndWait(store: string, crid: bigint, extra: string[] = []): Promise<CliResult> {
  return runCli(["restart", "--store", store, "--at", String(crid), ...extra], { timeoutMs: 120_000 });
}

/** A deterministic, moderately compressible file of `mb` MiB. */
export function makeInput(path: string, mb: number): void {
  const buf = Buffer.alloc(mb << 20);
  let x = 0x12345678;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE((x >>> 0) & 0x3f3f3f3f, i); // 6 bits of entropy per byte
  }
  writeFileSync(path, buf);
}

/**
 * Text of `words` words drawn from a vocabulary of 3000 short ones, `perLine` to a line: xz's
 * match finder scatters its writes over a 94 MiB buffer on such input (issue 16's page plan).
 */
export function makeWordText(path: string, words: number, perLine = 1000): void {
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const vocabulary = Array.from({ length: 3000 }, () => Array.from({ length: 2 + (next() % 6) }, () => letters[next() % 26]).join(""));
  const lines: string[] = [];
  for (let i = 0; i < words; i += perLine) lines.push(Array.from({ length: Math.min(perLine, words - i) }, () => vocabulary[next() % 3000]).join(" "));
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/**
 * The python3 binary itself: where python3 on PATH is a wrapper (pyenv's shim is a bash script
 * that runs child processes before it execs), a snapshot early in the run would find bash.
 */
export function python3Binary(): string {
  return execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
}

/** python3 dict.py [PASSES]: builds a 2.5M-entry dict, then PASSES times changes and digests part of it. */
export const PYTHON_SCRIPT = `import hashlib, sys
d = {}
for i in range(2500000):
    d[i] = str(i * 2654435761 % 1000003)
h = hashlib.sha256()
for p in range(int(sys.argv[1]) if len(sys.argv) > 1 else 1):
    for k in range(p, 2500000, 7):
        h.update(d[k].encode())
    for k in range(p, 2500000, 29):
        d[k] = d[k] + "x"
    print(p, h.hexdigest())
print(len(d), h.hexdigest())
`;

/** python3 shm.py ROUNDS: rewrites part of an 8 MiB shared anonymous mapping (mmap.mmap(-1, n)) each round, digesting it. */
export const PYTHON_SHM_SCRIPT = `import hashlib, mmap, sys
m = mmap.mmap(-1, 8 << 20)
h = hashlib.sha256()
for r in range(int(sys.argv[1])):
    for i in range(r % 7 * 4096, len(m), 4096 * 3):
        m[i:i + 8] = (r * 1000003 + i).to_bytes(8, "little")
    for _ in range(6):
        h.update(m)
    print(r, h.hexdigest())
`;

/**
 * python3 -c POOL N: multiprocessing.Pool(2) (forked workers) maps a CPU-bound function over
 * range(N), printing each result in order as it comes.
 */
export const PYTHON_POOL_SCRIPT = `import multiprocessing, sys
def work(n):
    s = 0
    for i in range(120000):
        s = (s * 31 + i * n) % 1000003
    return s
with multiprocessing.Pool(2) as pool:
    for result in pool.imap(work, range(int(sys.argv[1]))):
        print(result, flush=True)
`;

export const PERL_SCRIPT = `use strict; use Digest::MD5 qw(md5_hex);
my %h; for my $i (0 .. 1500000) { $h{$i} = ($i * 2654435761) % 1000003; }
my $ctx = Digest::MD5->new; for (my $k = 0; $k < 1500000; $k += 7) { $ctx->add($h{$k}); }
print scalar(keys %h), " ", $ctx->hexdigest, "\\n";
`;

/** Whether any process still runs with this PID (a half-built one must not). */
export function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** `pid` and its descendants (from every process's ppid in /proc), parents first. */
export function treeOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ESRCH") continue; // exited while /proc was listed
      throw error;
    }
    parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** Kills a whole tree (SIGKILL to every member) and waits until all its PIDs are free. */
export async function killTree(pid: number): Promise<void> {
  const members = treeOf(pid);
  for (const member of members) {
    try {
      process.kill(member, "SIGKILL");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error; // else: gone already
    }
  }
  // Orphans are reaped by PID 1, slowly here (~2 s, more under load).
  for (const member of members) await waitPidFree(member, 20_000);
}

/**
 * A small C project in `dir` for `make -j2`: `files` sources of 150 functions each (a compile of
 * a few hundred ms), a main that sums them, and a Makefile with a pattern rule.
 */
export function makeCProject(dir: string, files: number): void {
  mkdirSync(dir, { recursive: true });
  const decls: string[] = [];
  for (let i = 1; i <= files; i++) {
    const fns = Array.from({ length: 150 }, (_, j) => `double g${i}_${j}(double x) { double s = 0; for (int k = 1; k < 100; k++) s += sin(x * k + ${j}) / (k + ${i}); return s; }`);
    const sum = Array.from({ length: 150 }, (_, j) => `s += g${i}_${j}(${j}.0);`);
    writeFileSync(join(dir, `f${i}.c`), ["#include <math.h>", ...fns, `double f${i}(void) { double s = 0;`, ...sum, "return s; }", ""].join("\n"));
    decls.push(`double f${i}(void);`);
  }
  const calls = Array.from({ length: files }, (_, i) => `s += f${i + 1}();`);
  writeFileSync(join(dir, "main.c"), ["#include <stdio.h>", ...decls, "int main(void) { double s = 0;", ...calls, 'printf("%f\\n", s); return 0; }', ""].join("\n"));
  const rule = (target: string, deps: string, recipe: string) => `${target}: ${deps}\n\t${recipe}\n`;
  // Each output appears whole or not at all: a restart from the middle of a chain finds the
  // outputs of the killed run's later moments on disk, and make takes an object file cut short
  // by the kill for a finished one (cr restores processes, not the file system). gcc -pipe for
  // the same reason: without it cc1 leaves its assembly in /tmp for `as`, and a snapshot between
  // the two finds no process holding the file the killed run deleted later.
  const atomic = (compile: string) => `${compile} -o $@.tmp && mv $@.tmp $@`;
  writeFileSync(join(dir, "Makefile"), ["SRCS := $(wildcard *.c)", rule("prog", "$(SRCS:.c=.o)", atomic("$(CC) -O2 -pipe $^ -lm")), rule("%.o", "%.c", atomic("$(CC) -O2 -pipe -c $<")), rule("clean", "", "rm -f *.o *.tmp prog")].join("\n"));
}

/** A running tree_workers tree. */
export interface Workers {
  root: number;
  pids: number[];
  /** The 1 MiB of shared memory the root filled before forking, never written since. */
  still: bigint;
  /** Each process's rounds and errors, read from the slots page in the root's memory. */
  slots(): { rounds: bigint; errors: bigint }[];
}

/**
 * test/fixtures/tree_workers.c: 8 processes of `mib` MiB each that keep working and checking
 * themselves; the root goes into `started` at once, for the test to kill. Output goes to a file:
 * Node's stdio pipes are sockets, which cr does not save.
 */
export async function startWorkers(dir: string, started: ChildProcess[], mib: number): Promise<Workers> {
  const path = join(dir, "workers.out");
  const out = openSync(path, "w");
  const child = spawn(fixture("tree_workers"), [String(mib)], { stdio: ["ignore", out, out] });
  closeSync(out);
  started.push(child);
  let line = "";
  for (let i = 0; i < 2000 && !line.endsWith("\n"); i++) {
    await sleep(10);
    line = readFileSync(path, "utf8");
  }
  const [, address, still, ...pids] = line.trim().split(" ");
  const root = child.pid!;
  return {
    root,
    pids: pids.map(Number),
    still: BigInt(still!),
    slots: () => {
      const page = Buffer.alloc(24 * pids.length);
      const fd = openSync(`/proc/${root}/mem`, "r");
      try {
        readSync(fd, page, 0, page.length, Number(BigInt(address!)));
      } finally {
        closeSync(fd);
      }
      return pids.map((_, i) => ({ rounds: page.readBigUInt64LE(24 * i), errors: page.readBigUInt64LE(24 * i + 8) }));
    },
  };
}

/** A workload of several processes, with the fewest processes its tree has once it runs. */
export interface TreeWorkload extends Workload {
  processes: number;
}

/**
 * The workload's uninterrupted reference run, then a run of it snapshotted `count` times (1 full,
 * then increments) at random moments of about the first half of its reference duration.
 */
export async function referenceAndChain(w: Workload, dir: string, store: string, count: number) {
  const ref = await reference(w, dir);
  const chain = await sooner(async (scale) => {
    const run = startWorkload(w, dir, "chain");
    await sleep(Math.min(300, ref.ms / 10) * scale); // the children exist by then
    const crids = await snapshotChain(run, store, count, ref.ms * 0.5 * scale);
    return { run, crids };
  });
  return { ref, ...chain };
}

/** The PIDs of the running processes image `crid` holds. */
function imagedPids(store: string, crid: bigint): number[] {
  const images = new ImageCache(store);
  try {
    return images.open(crid).sections().map((s) => s.record("PROCESS")!.pid);
  } finally {
    images.close();
  }
}

/**
 * Issue 19's acceptance for one workload: 1 full snapshot and 20 increments of the whole tree,
 * the tree killed, a restart from the middle of the chain; it must write what the uninterrupted
 * run writes, its errors where the original did, and leave no process behind.
 */
export async function expectChainRestartsLikeReference(w: TreeWorkload, dir: string): Promise<void> {
  const store = join(dir, `chain-${w.name}`);
  const { ref, run, crids } = await referenceAndChain(w, dir, store, 21);
  // The tree as the restart point holds it: by the chain's end (later on a loaded machine) workers may have ended.
  const members = imagedPids(store, crids[10]!);
  expect(members.length).toBeGreaterThanOrEqual(w.processes);
  await killTree(run.pid);
  const restarted = await restartAndWait(store, crids[10]!);
  expect(restarted.code, `${restarted.stderr}${readFileSync(join(dir, `${w.name}-chain.err`), "utf8")}`).toBe(0);
  expect(readFileSync(run.out).equals(ref.output), readFileSync(run.out, "utf8")).toBe(true);
  // Every restored process was reaped by its restored parent, the root by cr: none is left.
  expect(members.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
}

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { snapshot, spawnWithPipes, TRACKER_NAMES, type TrackerName } from "@cr/core";
import { probeKernel } from "@cr/native";
import { gbps, median, percentile, type Row } from "./bench-table.js";
import { crArgs } from "./cr-cli.js";
import { probeMachine } from "./bench-machine.js";

const TARGET_MB = 1024;
const INCREMENTS = 30;
const HASHING_INCREMENTS = 5;
/** Increments taken by `cr snapshot` processes, one each (the rest run in this process, warm). */
const CLI_INCREMENTS = 10;

/** A running bench_target and a way to send it one command and await its answer. */
export interface Target {
  pid: number;
  command(line: string): Promise<string>;
  stop(): void;
}

export function compileTarget(): string {
  const source = fileURLToPath(new URL("../fixtures/bench_target.c", import.meta.url));
  const out = join(tmpdir(), "cr-bench-target");
  execFileSync("cc", ["-O2", "-o", out, source]);
  return out;
}

/** bench_target of `mb` MiB; with `processes` > 1, a tree of that many, `mb` MiB each (or `shared` by all). */
export async function startTarget(binary: string, mb: number, processes = 1, shared = false): Promise<Target> {
  const { child, stdin, stdout } = await spawnWithPipes(binary, [String(mb), String(processes), ...(shared ? ["shared"] : [])]);
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`bench_target exited: ${child.exitCode ?? child.signalCode}`);
    return value as string;
  };
  if ((await next()) !== "ready") throw new Error("bench_target did not start");
  return {
    pid: child.pid!,
    command: async (line) => {
      stdin.write(`${line}\n`);
      return next();
    },
    stop: () => {
      child.kill("SIGKILL");
      stdin.destroy();
      stdout.destroy();
    },
  };
}

/** Per available tracker: full-snapshot throughput, and downtime/total of 1%-dirty increments. */
export async function benchSnapshot(): Promise<Row[]> {
  const binary = compileTarget();
  const kernel = probeKernel();
  const available: Record<TrackerName, { available: boolean; reason: string }> = {
    "write-protect": kernel.writeProtectScan,
    "soft-dirty": kernel.softDirty,
    hashing: { available: true, reason: "" },
  };
  const rows: Row[] = [];
  for (const tracker of TRACKER_NAMES) {
    if (!available[tracker].available) {
      rows.push({ scenario: `snapshot ${tracker}`, value: "n/a", target: `unavailable: ${available[tracker].reason}` });
      continue;
    }
    rows.push(...(await benchTracker(binary, tracker)));
  }
  if (available["write-protect"].available) rows.push(...(await benchTree(binary)), ...(await benchSharedTree(binary)));
  return rows;
}

/** INCREMENTS write-protect increments of `target`, each after it writes 1% of its memory. */
async function increments(target: Target, store: string): Promise<{ downtimes: number[]; totals: number[]; pages: number[] }> {
  const out = { downtimes: [] as number[], totals: [] as number[], pages: [] as number[] };
  for (let i = 0; i < INCREMENTS; i++) {
    await target.command("dirty 10");
    const inc = await snapshot(target.pid, { store, incremental: true });
    out.downtimes.push(inc.downtimeMs);
    out.totals.push(inc.totalMs);
    out.pages.push(inc.dirtyPages);
  }
  return out;
}

const SHARED_MB = 256;
const SHARED_PROCESSES = 3;

/**
 * A tree of 3 processes sharing 256 MiB of shared anonymous memory, each writing 1% of it between
 * snapshots: the tree vouches for the object (trackers/shared-objects.ts), so an increment holds
 * the pages written, about 3%, not the whole object.
 */
async function benchSharedTree(binary: string): Promise<Row[]> {
  const store = mkdtempSync(join(tmpdir(), "cr-bench-store-"));
  const target = await startTarget(binary, SHARED_MB, SHARED_PROCESSES, true);
  try {
    await snapshot(target.pid, { store, incremental: false });
    const { downtimes, pages } = await increments(target, store);
    const what = `tree of ${SHARED_PROCESSES} sharing ${SHARED_MB} MiB, each writing 1%`;
    return [
      { scenario: `incremental, ${what}: downtime median`, value: `${median(downtimes).toFixed(2)} ms` },
      { scenario: `incremental, ${what}: pages saved median`, value: `${median(pages)} of ${SHARED_MB * 256}` },
    ];
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

const TREE_PROCESSES = 8;

/**
 * A tree of 8 processes x 128 MiB, 1% written between snapshots, beside one process of the same
 * 1 GiB (the write-protect rows above): what freezing and collecting 8 processes costs.
 */
async function benchTree(binary: string): Promise<Row[]> {
  const store = mkdtempSync(join(tmpdir(), "cr-bench-store-"));
  const target = await startTarget(binary, TARGET_MB / TREE_PROCESSES, TREE_PROCESSES);
  try {
    const full = await snapshot(target.pid, { store, incremental: false });
    const { downtimes, totals } = await increments(target, store);
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    const what = `tree of ${TREE_PROCESSES} x ${TARGET_MB / TREE_PROCESSES} MiB`;
    return [
      { scenario: `full snapshot ${what}, write-protect`, value: gbps(full.bytes, full.totalMs) },
      { scenario: `incremental 1% dirty, ${what}: downtime median`, value: ms(median(downtimes)) },
      { scenario: `incremental 1% dirty, ${what}: total median`, value: ms(median(totals)) },
    ];
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

/** Downtimes of `cr snapshot --incremental` as a user runs it: a new process each, nothing compiled or warmed yet. */
async function cliDowntimes(store: string, target: Target, tracker: TrackerName): Promise<number[]> {
  const args = crArgs("snapshot", "--incremental", "--json", "--store", store, "--tracker", tracker, String(target.pid));
  const out: number[] = [];
  for (let i = 0; i < CLI_INCREMENTS; i++) {
    await target.command("dirty 10");
    out.push((JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" })) as { downtimeMs: number }).downtimeMs);
  }
  return out;
}

async function benchTracker(binary: string, tracker: TrackerName): Promise<Row[]> {
  const store = mkdtempSync(join(tmpdir(), "cr-bench-store-"));
  const target = await startTarget(binary, TARGET_MB);
  try {
    const full = await snapshot(target.pid, { store, incremental: false, tracker });
    const downtimes: number[] = [];
    const totals: number[] = [];
    const sizes: number[] = [];
    const count = tracker === "hashing" ? HASHING_INCREMENTS : INCREMENTS;
    for (let i = 0; i < count; i++) {
      await target.command("dirty 10");
      const inc = await snapshot(target.pid, { store, incremental: true, tracker });
      downtimes.push(inc.downtimeMs);
      totals.push(inc.totalMs);
      sizes.push(inc.bytes / Math.max(1, inc.dirtyPages * 4096));
    }
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    const floor = probeMachine().incrementFloorMs;
    const versus = (v: number) => `<= 1.5x floor ${ms(floor)}: ${(v / floor).toFixed(2)}x`;
    const cliMedian = tracker === "write-protect" ? median(await cliDowntimes(store, target, tracker)) : 0;
    const cliRows = tracker === "write-protect" ? [{ scenario: `incremental 1% dirty, ${tracker}, one cr process each: downtime median`, value: ms(cliMedian), target: versus(cliMedian) }] : [];
    return [
      { scenario: `full snapshot 1 GiB, ${tracker}`, value: gbps(full.bytes, full.totalMs), target: ">= 2 GB/s" },
      { scenario: `incremental 1% dirty, ${tracker}: downtime median`, value: ms(median(downtimes)), target: tracker === "write-protect" ? versus(median(downtimes)) : "" },
      { scenario: `incremental 1% dirty, ${tracker}: downtime p95`, value: ms(percentile(downtimes, 0.95)) },
      { scenario: `incremental 1% dirty, ${tracker}: total median`, value: ms(median(totals)) },
      { scenario: `incremental 1% dirty, ${tracker}: image / dirty bytes`, value: median(sizes).toFixed(3), target: "<= 1.05 (+64 KiB)" },
      ...cliRows,
    ];
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

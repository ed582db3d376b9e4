import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { snapshot, type SnapshotResult } from "@cr/core";
import { durableWriteMs, probeMachine } from "./bench-machine.js";
import { compileTarget, startTarget, type Target } from "./bench-snapshot.js";
import { median, type Row } from "./bench-table.js";
import { crArgs } from "./cr-cli.js";

const TARGET_MB = 1024;
const ROUNDS = 5;
const CLI_ROUNDS = 3;
const WORK_SECONDS = 60;
const WINDOW_SECONDS = 5;

const ms = (v: number) => `${v.toFixed(2)} ms`;
const ratio = (figure: number, floor: number) => `${(figure / floor).toFixed(2)}x`;

/**
 * Pauses as the target sees them (bench_target's `watch` thread: the longest gap between its
 * rounds, a stall after the thaw included), against the floors of the same run (bench-machine.ts):
 * full snapshots of 1 GiB and increments of 20%, in this process and in a `cr` process each;
 * the same with lz4; and the work rate of a target snapshotted every second for a minute.
 */
export async function benchPauses(): Promise<Row[]> {
  const binary = compileTarget();
  const store = mkdtempSync(join(tmpdir(), "cr-bench-pause-"));
  const target = await startTarget(binary, TARGET_MB);
  const rows: Row[] = [];
  try {
    await target.command("watch");
    await target.command("gap");
    const idle = await seenPause(target, () => new Promise((resolve) => setTimeout(resolve, 1000)));
    rows.push({ scenario: "bench target's longest gap in 1 s, no snapshot", value: ms(idle) });
    rows.push(...(await fullRows(target, store)), ...(await increment20Rows(target, store)), ...(await lz4Rows(target, store)));
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
  return [...rows, ...(await workRateRows(binary))];
}

/** The longest gap the target saw while `during` ran, in ms. */
async function seenPause<T>(target: Target, during: () => Promise<T>): Promise<number> {
  await target.command("gap");
  await during();
  return Number(await target.command("gap")) / 1000;
}

interface Sample {
  pause: number;
  result: SnapshotResult;
}

async function sample(target: Target, take: () => Promise<SnapshotResult>): Promise<Sample> {
  let result: SnapshotResult | undefined;
  const pause = await seenPause(target, async () => (result = await take()));
  return { pause, result: result! };
}

/** A full snapshot by a new `cr snapshot` process: its result as --json prints it. */
function cliSnapshot(pid: number, store: string, ...flags: string[]): Promise<SnapshotResult> {
  return new Promise((resolve, reject) => {
    let out = "";
    const child = spawn(process.execPath, crArgs("snapshot", "--json", "--store", store, ...flags, String(pid)), { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.once("close", (code) => (code === 0 ? resolve(JSON.parse(out) as SnapshotResult) : reject(new Error(`cr snapshot exited ${code}`))));
  });
}

async function fullRows(target: Target, store: string): Promise<Row[]> {
  const floor = probeMachine().writeProtectMs;
  const inProcess: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) inProcess.push(await sample(target, () => snapshot(target.pid, { store, incremental: false })));
  const cli: Sample[] = [];
  for (let i = 0; i < CLI_ROUNDS; i++) cli.push(await sample(target, () => cliSnapshot(target.pid, store)));
  const pause = median(inProcess.map((s) => s.pause));
  const cliPause = median(cli.map((s) => s.pause));
  const total = median(inProcess.map((s) => s.result.totalMs));
  const writeFloor = durableWriteMs(median(inProcess.map((s) => s.result.bytes)));
  return [
    { scenario: "full snapshot 1 GiB: longest pause the target sees, median", value: ms(pause), target: `<= 20 ms or <= 1.2x write-protect floor ${ms(floor)}: ${ratio(pause, floor)}` },
    { scenario: "full snapshot 1 GiB: downtime cr measures (freeze to thaw), median", value: ms(median(inProcess.map((s) => s.result.downtimeMs))) },
    { scenario: "full snapshot 1 GiB, one cr process each: longest pause, median", value: ms(cliPause), target: ratio(cliPause, floor) },
    { scenario: "full snapshot 1 GiB: total, median", value: ms(total), target: `<= 1.2x durable write floor ${ms(writeFloor)}: ${ratio(total, writeFloor)}` },
  ];
}

async function increment20Rows(target: Target, store: string): Promise<Row[]> {
  const floor = probeMachine().writeProtectMs;
  const samples: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await target.command("dirty 200");
    samples.push(await sample(target, () => snapshot(target.pid, { store, incremental: true })));
  }
  const pause = median(samples.map((s) => s.pause));
  const total = median(samples.map((s) => s.result.totalMs));
  const writeFloor = durableWriteMs(median(samples.map((s) => s.result.bytes)));
  return [
    { scenario: "incremental 20% of 1 GiB: longest pause the target sees, median", value: ms(pause), target: `<= 20 ms or <= 1.2x ${ms(floor)}: ${ratio(pause, floor)}` },
    { scenario: "incremental 20% of 1 GiB: total, median", value: ms(total), target: `<= 1.5x durable write floor ${ms(writeFloor)}: ${ratio(total, writeFloor)}` },
  ];
}

async function lz4Rows(target: Target, store: string): Promise<Row[]> {
  const raw: SnapshotResult[] = [];
  const lz4: SnapshotResult[] = [];
  for (let i = 0; i < 3; i++) {
    raw.push(await snapshot(target.pid, { store, incremental: false }));
    lz4.push(await snapshot(target.pid, { store, incremental: false, codec: "lz4" }));
  }
  const [rawMs, lz4Ms] = [median(raw.map((r) => r.totalMs)), median(lz4.map((r) => r.totalMs))];
  const [rawBytes, lz4Bytes] = [median(raw.map((r) => r.bytes)), median(lz4.map((r) => r.bytes))];
  return [
    { scenario: "full snapshot 1 GiB, lz4: total, median", value: ms(lz4Ms), target: `<= 1.2x raw ${ms(rawMs)}: ${ratio(lz4Ms, rawMs)}` },
    { scenario: "full snapshot 1 GiB, lz4: image / raw image", value: (lz4Bytes / rawBytes).toFixed(3), target: "<= 0.40" },
  ];
}

/**
 * The target's own work rate (bench_target `work`: hashing, and writes into a 16 MiB working
 * set) in WORK_SECONDS while `cr snapshot --incremental --interval 1s` runs, against its rate in
 * as long alone: windows of WINDOW_SECONDS, alone and snapshotted in turn, so that the machine's
 * drift (other work, the host) falls on both alike. The host's own swings (a window alone here
 * varies by 15%) can outweigh the whole difference, so each pair's change is shown too: their
 * median, and their range.
 */
async function workRateRows(binary: string): Promise<Row[]> {
  const store = mkdtempSync(join(tmpdir(), "cr-bench-work-"));
  const target = await startTarget(binary, TARGET_MB);
  try {
    const work = async () => Number(await target.command(`work ${WINDOW_SECONDS}`));
    execFileSync(process.execPath, crArgs("snapshot", "--store", store, String(target.pid)), { stdio: "ignore" });
    const snapshotted = async () => {
      const loop = spawn(process.execPath, crArgs("snapshot", "--incremental", "--interval", "1s", "--store", store, String(target.pid)), { stdio: "ignore" });
      const ended = new Promise((resolve) => loop.once("close", resolve));
      const rounds = await work();
      loop.kill("SIGTERM");
      await ended;
      return rounds;
    };
    const pairs: { alone: number; snapshotted: number }[] = [];
    for (let pair = 0; pair < WORK_SECONDS / WINDOW_SECONDS; pair++) {
      // In turn which comes first: a drift of the machine's speed falls on both alike.
      if (pair % 2 === 0) pairs.push({ alone: await work(), snapshotted: await snapshotted() });
      else pairs.push({ snapshotted: await snapshotted(), alone: await work() });
    }
    const sum = (key: "alone" | "snapshotted") => pairs.reduce((total, pair) => total + pair[key], 0);
    const percent = (snapshotted: number, alone: number) => (snapshotted / alone - 1) * 100;
    const changes = pairs.map((p) => percent(p.snapshotted, p.alone));
    return [
      { scenario: `work rate alone (rounds/s, ${WORK_SECONDS} s in windows of ${WINDOW_SECONDS} s)`, value: (sum("alone") / WORK_SECONDS).toFixed(0) },
      { scenario: "work rate with cr snapshot --incremental --interval 1s, the windows in turn with those", value: (sum("snapshotted") / WORK_SECONDS).toFixed(0), target: `within 3%: ${percent(sum("snapshotted"), sum("alone")).toFixed(2)}%` },
      { scenario: "the same, each window against the one alone beside it: median (range)", value: `${median(changes).toFixed(2)}%`, target: `${Math.min(...changes).toFixed(1)}% .. ${Math.max(...changes).toFixed(1)}%` },
    ];
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

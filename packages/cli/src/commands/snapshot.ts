import { Option, type Command } from "commander";
import type { SnapshotResult } from "@cr/core";
import { CrError, TRACKER_NAMES, type TrackerName } from "@cr/core/names";
import { HANDED_OVER_HELP, TCP_CLOSE_HELP, TCP_ESTABLISHED_HELP, parseDuration, parseHandedOver, parsePid, storeOption } from "../args.js";
import { formatBytes, formatMs, toJson } from "../output.js";
import { progressBar } from "../progress.js";

interface SnapshotFlags {
  incremental?: boolean;
  tracker?: TrackerName;
  kill?: boolean;
  interval?: number;
  store?: string;
  branch?: string;
  lz4?: boolean;
  json?: boolean;
  inheritFd: Set<number>;
  tcpClose?: boolean;
  tcpEstablished?: boolean;
}

export function registerSnapshot(program: Command): void {
  program
    .command("snapshot")
    .description("Checkpoint a running process into an image in the store and print its CRID.")
    .argument("<pid>", "process id", parsePid)
    .option("-i, --incremental", "save only the pages written since this process's last image")
    .addOption(new Option("--tracker <name>", "dirty-page tracker (default: the best this kernel offers)").choices(TRACKER_NAMES))
    .addOption(new Option("--leave-running", "let the process run on afterwards (the default)").conflicts("kill"))
    .option("--kill", "kill the process once its image is safely stored")
    .option("--interval <duration>", "repeat every DURATION (e.g. 1s) until the process exits or cr is interrupted", parseDuration)
    .option("--lz4", "compress page data with LZ4")
    .addOption(storeOption())
    .option("--branch <name>", "branch to add the image to (default: the branch the process was restarted from, else main)")
    .option("--json", "print the result as JSON (one object per image)")
    .option("--inherit-fd <fd>", HANDED_OVER_HELP, parseHandedOver, new Set<number>())
    .option("--tcp-close", TCP_CLOSE_HELP)
    .option("--tcp-established", TCP_ESTABLISHED_HELP)
    .addHelpText("after", "\nExamples:\n  cr snapshot 1234\n  cr snapshot 1234 --incremental --interval 1s\n  cr snapshot 1234 --inherit-fd 1\n  cr snapshot 1234 --tcp-close\n  cr snapshot 1234 --kill --tcp-established")
    .action(async (pid: number, flags: SnapshotFlags) => {
      const { snapshot } = await import("@cr/core");
      const take = (incremental: boolean) => {
        const bar = progressBar("snapshot");
        return snapshot(pid, {
          store: flags.store,
          branch: flags.branch,
          incremental,
          tracker: flags.tracker,
          after: flags.kill ? "kill" : "leave-running",
          codec: flags.lz4 ? "lz4" : "raw",
          handedOver: flags.inheritFd,
          tcpClose: flags.tcpClose ?? false,
          tcpEstablished: flags.tcpEstablished ?? false,
          onProgress: bar.update,
        }).finally(() => bar.done());
      };
      if (flags.interval === undefined) {
        print(await take(flags.incremental ?? false), flags.json);
        return;
      }
      await repeat(pid, flags.interval, flags.incremental ?? false, take, flags.json);
    });
}

/**
 * Snapshots every `intervalMs` until the process ends (its normal end: exit 0 with a summary) or
 * cr gets SIGINT/SIGTERM.
 */
async function repeat(pid: number, intervalMs: number, incremental: boolean, take: (incremental: boolean) => Promise<SnapshotResult>, json?: boolean): Promise<void> {
  const { stillRuns } = await import("@cr/core");
  let stopping = false;
  const stop = () => (stopping = true);
  process.once("SIGINT", stop).once("SIGTERM", stop);
  const taken: bigint[] = [];
  let key = "";
  let retried = false;
  const ended = () => taken.length > 0 && !stillRuns(pid, key);
  while (!stopping && !ended()) {
    const started = Date.now();
    let result: SnapshotResult;
    try {
      result = await take(incremental || taken.length > 0);
    } catch (error) {
      // However a snapshot fails once its target is gone, the process ending is the end. A
      // process in the middle of its exit (its descriptors gone, not yet a zombie) still looks
      // running: it is given a moment to finish.
      if (await endsWithin(ENDING_MS, ended)) break;
      // A coalesce rewrote the image this one builds on while it was written: nothing was
      // stored, and the next snapshot builds on the new file (docs/store.md). Periodic
      // snapshots go on with a coalesce now and then; twice in a row is something else.
      if (error instanceof CrError && error.code === "STALE_PARENT" && !retried) {
        process.stderr.write(`cr: CRID ${error.crid} was rewritten while this snapshot was written (a coalesce); nothing stored, taking it again\n`);
        retried = true;
        continue;
      }
      throw error;
    }
    retried = false;
    print(result, json);
    taken.push(result.crid);
    key = result.processKey;
    await sleepUntil(started + intervalMs, () => stopping || ended());
  }
  const why = stopping ? "interrupted" : `process ${pid} ended`;
  process.stderr.write(`cr: ${why}: ${taken.length} snapshot(s) taken${taken.length > 0 ? `, CRIDs ${taken[0]}..${taken.at(-1)}` : ""}\n`);
}

/** How long a failed snapshot waits for its process to finish exiting before it reports the failure. */
const ENDING_MS = 500;

/** Whether `ended()` turns true within `ms` (asked every 10 ms). */
async function endsWithin(ms: number, ended: () => boolean): Promise<boolean> {
  for (const until = Date.now() + ms; !ended(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() >= until) return false;
  }
  return true;
}

/** Waits until the time `until`, waking early when `done()` turns true (asked every 100 ms). */
async function sleepUntil(until: number, done: () => boolean): Promise<void> {
  while (!done() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())));
}

function print(result: SnapshotResult, json?: boolean): void {
  if (json) {
    console.log(toJson(result));
    return;
  }
  process.stderr.write(
    `${result.parent === null ? "full" : `incremental on ${result.parent}`}${result.processes > 1 ? ` of ${result.processes} processes` : ""}: ${result.dirtyPages} pages, ${formatBytes(result.bytes)}, ` +
      `downtime ${formatMs(result.downtimeMs)}${result.frozenCopies > 0 ? " (pages read from a frozen copy after it)" : ""}, total ${formatMs(result.totalMs)}, tracker ${result.tracker} (${result.trackerReason})` +
      (result.fullReason ? `; every page saved: ${result.fullReason}` : "") +
      "\n",
  );
  for (const warning of result.warnings) process.stderr.write(`cr: warning: ${warning}\n`);
  console.log(String(result.crid));
  if (result.unreapedBy !== undefined) {
    const parent = `PID ${result.unreapedBy.pid} (${result.unreapedBy.comm})`;
    process.stderr.write(`cr: note: process ${result.pid} is killed, but its parent ${parent} has not reaped it: PID ${result.pid} stays taken, and cr restart waits for it, until it does\n`);
  }
}

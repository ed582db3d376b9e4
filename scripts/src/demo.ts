import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crArgs } from "./cr-cli.js";

/**
 * The README's main job: a built-in workload goes through cr's command line, step by step,
 * printing each command and its answer: run, check, snapshots, kill, restart at an earlier
 * checkpoint, a branch with its own history, coalesce, and the history drawn as a graph.
 */
const store = mkdtempSync(join(tmpdir(), "cr-demo-"));

function cr(...args: string[]): string {
  console.log(`\n$ cr ${args.join(" ")}`);
  const out = execFileSync(process.execPath, crArgs(...args), { encoding: "utf8", env: { ...process.env, CR_STORE: store }, stdio: ["ignore", "pipe", "inherit"] });
  process.stdout.write(out);
  return out.trim();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until no process holds `pid` (a killed process's PID is freed once it is reaped). */
async function pidFreed(pid: number): Promise<void> {
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

function lastTick(pid: number): string {
  const lines = readFileSync(join(store, "runs", `${pid}.stdout`), "utf8").trim().split("\n");
  return lines[lines.length - 1] ?? "";
}

function compileWorkload(): string {
  const out = join(tmpdir(), "cr-demo-counter");
  execFileSync("cc", ["-O2", "-o", out, fileURLToPath(new URL("../fixtures/demo_counter.c", import.meta.url))]);
  return out;
}

console.log(`cr demo; store ${store}`);
const pid = Number(cr("run", "--", compileWorkload()));
await sleep(500);
cr("check", String(pid));
const crids = [cr("snapshot", String(pid))];
for (let i = 0; i < 4; i++) {
  await sleep(400);
  crids.push(cr("snapshot", String(pid), "--incremental"));
  console.log(`(the workload printed: ${lastTick(pid)})`);
}
console.log(`\nthe workload is at: ${lastTick(pid)}; killing it`);
process.kill(pid, "SIGKILL");
await pidFreed(pid);

cr("restart", "--at", crids[2]!, "--detach");
await sleep(600);
console.log(`restarted from CRID ${crids[2]}, it goes on: ${lastTick(pid)}`);
crids.push(cr("snapshot", String(pid), "--incremental"));

cr("branch", "experiment", "--from", crids[1]!);
process.kill(pid, "SIGKILL");
await pidFreed(pid);
cr("restart", "--at", crids[1]!, "--branch", "experiment", "--detach");
await sleep(400);
cr("snapshot", String(pid), "--incremental", "--branch", "experiment");
process.kill(pid, "SIGKILL");

cr("coalesce", "--keep-last", "2");
cr("log", "--graph");
cr("verify");
console.log("\ndone: every image verified.");

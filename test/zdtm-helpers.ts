// The zdtm programs (test/zdtm, protocol: zdtm.h) and how the zdtm tests start, restart and judge them.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { runCli } from "./cli.js";
import { zdtmDir } from "./fixtures/build.js";
import { sleep, tmpDir } from "./harness.js";

export interface Program {
  name: string;
  /** The kind of `cr check` problem expected, or null when the program must be restored exactly. */
  refused: string | null;
  /** What each snapshot's warnings must match, if the program says (second line). */
  warns: RegExp | null;
}

/** The programs, with what their first line says cr must do (see zdtm.h). */
function programs(): Program[] {
  return readdirSync(zdtmDir)
    .filter((f) => f.endsWith(".c"))
    .sort()
    .map((file) => {
      const [first, second] = readFileSync(join(zdtmDir, file), "utf8").split("\n", 2);
      const said = /^\/\/ zdtm: (?:pass|refused (\S+))$/.exec(first!);
      if (!said) throw new Error(`test/zdtm/${file}: the first line must be "// zdtm: pass" or "// zdtm: refused KIND"`);
      const warns = /^\/\/ zdtm: warns (.+)$/.exec(second ?? "")?.[1];
      return { name: file.slice(0, -2), refused: said[1] ?? null, warns: warns === undefined ? null : new RegExp(warns) };
    });
}

export const all = programs();
export const restored = all.filter((p) => p.refused === null);
/** Runs a test with the PIDs it starts, each killed at its end (tests run concurrently: each stops its own). */
export async function withPids(body: (pids: number[]) => Promise<void>): Promise<void> {
  const pids: number[] = [];
  try {
    await body(pids);
  } finally {
    pids.forEach(killQuietly);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone: nothing to stop
  }
}

export interface Started {
  child: ChildProcess;
  pid: number;
  out: string;
  exited: Promise<void>;
}

/** Starts a program in a directory of its own and waits until it says it is set up. */
export async function start(program: Program, pids: number[]): Promise<Started> {
  const dir = tmpDir(`cr-zdtm-${program.name}-`);
  const out = join(dir, "out");
  const child = spawn(join(zdtmDir, "bin", program.name), [out], { cwd: dir, stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  pids.push(child.pid!);
  const deadline = Date.now() + 10_000;
  while (!existsSync(`${out}.ready`)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${program.name} ended during its set-up: ${resultOf(out)}`);
    if (Date.now() > deadline) throw new Error(`${program.name} not set up after 10 s`);
    await sleep(10);
  }
  return { child, pid: child.pid!, out, exited };
}

function resultOf(out: string): string {
  return existsSync(out) ? readFileSync(out, "utf8").trim() : "(no result written)";
}

/** `cr restart --detach` from `crid`, SIGTERM once it runs, and the program's own verdict. */
export async function restartAndCheck(store: string, crid: bigint, out: string, pids: number[]): Promise<string> {
  const restarted = await runCli(["restart", "--store", store, "--at", String(crid), "--detach"]);
  expect(restarted.code, restarted.stderr).toBe(0);
  const pid = Number(restarted.stdout.trim());
  expect(pid, `cr restart --detach printed ${JSON.stringify(restarted.stdout)}`).toBeGreaterThan(0); // kill(0) would end the test run
  pids.push(pid);
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (!existsSync(out) || readFileSync(out, "utf8") === "") {
    if (!existsSync(`/proc/${pid}`)) break;
    if (Date.now() > deadline) return "(no result 10 s after SIGTERM: hung)";
    await sleep(10);
  }
  await sleep(existsSync(out) ? 0 : 50); // a result written just as the process ended
  return resultOf(out);
}


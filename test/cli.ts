// Run the built `cr` command (packages/cli/dist/bundle/cr.js, what the installed launcher runs)
// from tests. The test run builds it first (test/global-setup.ts).

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { expect } from "vitest";
import { cliMain } from "./cli-paths.js";

export { cliMain, repoRoot } from "./cli-paths.js";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `cr ARGS...` to completion. */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliMain, ...args],
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => resolve(cliResult(error, stdout, stderr, started)),
    );
  });
}

function cliResult(error: Error | null, stdout: string, stderr: string, started: number): CliResult {
  const e = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
  return { code: e ? (typeof e.code === "number" ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr, ms: Date.now() - started };
}

/**
 * Runs a bash script (with pipefail: its code is the first failure's) in which the function `cr`
 * runs the built CLI: real pipes, as `cr export 7 | cr import --store B -` in a shell.
 */
export function runShell(script: string, opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile("bash", ["-c", `set -o pipefail; cr() { "$CR_NODE" "$CR_MAIN" "$@"; }; ${script}`], { env: { ...process.env, CR_NODE: process.execPath, CR_MAIN: cliMain }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve(cliResult(error, stdout, stderr, started)),
    );
  });
}

/** A refusal as cr must give it: a non-zero exit that is not an internal error, and one `cr: ` line on stderr matching `error` after the prefix. */
export function expectOneLineError(result: CliResult, error: RegExp): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code, `an internal error: ${result.stderr}`).not.toBe(70);
  const lines = result.stderr.split("\n").filter((l) => l !== "");
  expect(lines, "exactly one line on stderr").toHaveLength(1);
  expect(lines[0]).toMatch(/^cr: /);
  expect(lines[0]).not.toMatch(/^cr: internal error/);
  expect(lines[0]!.slice(4)).toMatch(error);
}

/** Starts `cr ARGS...` without waiting (for kill tests). */
export function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, [cliMain, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

// Run the built `cr` command (packages/cli/dist/main.js) from tests.

import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));
export const cliMain = join(repoRoot, "packages", "cli", "dist", "main.js");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (name.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let built = false;

/** Builds the TypeScript packages (tsc -b) when dist/main.js is missing or older than a source. */
export function ensureCliBuilt(): void {
  if (built) return;
  const sources = ["cli", "core", "format", "native"].map((p) => newestMtime(join(repoRoot, "packages", p, "src")));
  if (!existsSync(cliMain) || statSync(cliMain).mtimeMs < Math.max(...sources)) {
    try {
      execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), ["-b"], { cwd: repoRoot, stdio: "pipe" });
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`tsc -b failed, cannot run the cr CLI:\n${String(err.stdout ?? "")}${String(err.stderr ?? "")}`);
    }
  }
  built = true;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `cr ARGS...` to completion. */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  ensureCliBuilt();
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
  ensureCliBuilt();
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
  ensureCliBuilt();
  return spawn(process.execPath, [cliMain, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

// Progress: a full snapshot, verify, coalesce and restart draw a progress bar (what they are
// doing, how far, how fast) on stderr when it is a terminal, and clear it before anything else
// is written; with stderr not a terminal nothing of it appears. The terminal is a real
// pseudo-terminal (script(1)); CR_PROGRESS_AFTER_MS=0 draws from the start, so the work need
// not last a second on any machine. Real process, the built CLI.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, runCli } from "./cli.js";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { startWorkload, waitPidFree, type Run } from "./restart-helpers.js";

const NOW = { CR_PROGRESS_AFTER_MS: "0" };

let dir: string;
let store: string;
let run: Run;

/** `cr ARGS` with its stdout and stderr on a pseudo-terminal: its exit code and what the terminal got. */
function onTerminal(args: string[]): Promise<{ code: number; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, cliMain, ...args].map(quote).join(" ");
  return new Promise((resolve) => {
    execFile("script", ["-qfec", command, "/dev/null"], { env: { ...process.env, ...NOW }, timeout: 60_000 }, (error, stdout) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout });
    });
  });
}

/** A bar of `what` was drawn (label and phase, bar, percent, done of total, rate), and cleared after its last draw. */
function expectBar(output: string, what: string): void {
  const draws = output.split("\r").filter((s) => s.startsWith(`${what} [`));
  expect(draws.length, JSON.stringify(output)).toBeGreaterThan(0);
  for (const d of draws) expect(d).toMatch(/ \[[#-]+\] +\d+% [\d.]+ \w+ of [\d.]+ \w+, [\d.]+ \w+\/s\x1b\[K$/);
  const last = output.lastIndexOf(`\r${what} [`);
  expect(output.slice(last + 1), "cleared after its last draw").toContain("\r\x1b[K");
}

/** No trace of a bar on a stderr that is not a terminal. */
function expectNoBar(stderr: string): void {
  expect(stderr).not.toContain("\r");
  expect(stderr).not.toContain("\x1b");
}

beforeAll(async () => {
  dir = tmpDir("cr-progress-");
  store = join(dir, "store");
  // 8 MiB of heap: several blocks and fill batches; a step per ms, for as long as the test needs.
  run = startWorkload({ name: "heap", command: fixture("heap_checksum"), args: ["OUT", "8", "10000000", "1000"], writesOut: true }, dir, "run");
  while (!readFileSync(join(dir, "heap-run.stdout"), "utf8").includes("ready")) await sleep(5);
});

afterAll(async () => {
  run.child.kill("SIGKILL");
  await run.exited;
  cleanupTmp();
});

describe("progress bars", () => {
  it("snapshot, verify, coalesce and restart draw one on a terminal and clear it; nothing when stderr is not a terminal", async () => {
    const full = await onTerminal(["snapshot", "--store", store, String(run.pid)]);
    expect(full.code, full.output).toBe(0);
    expectBar(full.output, "snapshot: saving memory");
    expect(full.output).toMatch(/\r\x1b\[Kfull: \d+ pages/);

    // The same work with stderr a pipe: only the summary line.
    const piped = await runCli(["snapshot", "--store", store, String(run.pid)], { env: NOW });
    expect(piped.code, piped.stderr).toBe(0);
    expectNoBar(piped.stderr);
    expect(piped.stderr).toMatch(/^full: [^\n]*\n$/);
    const increment = await runCli(["snapshot", "--store", store, "--incremental", String(run.pid)]);
    expect(increment.code, increment.stderr).toBe(0);

    const verify = await onTerminal(["verify", "--store", store]);
    expect(verify.code, verify.output).toBe(0);
    expectBar(verify.output, "verify: checking hashes");
    const verifyPiped = await runCli(["verify", "--store", store], { env: NOW });
    expect(verifyPiped.code).toBe(0);
    expect(verifyPiped.stderr).toBe("");

    // The increment becomes full: its parent's pages are copied in.
    const coalesce = await onTerminal(["coalesce", "--store", store, "--keep-last", "1"]);
    expect(coalesce.code, coalesce.output).toBe(0);
    expectBar(coalesce.output, "coalesce: copying blocks");

    run.child.kill("SIGKILL");
    await run.exited;
    await waitPidFree(run.pid);
    const restart = await onTerminal(["restart", "--store", store, "--at", increment.stdout.trim(), "--detach"]);
    try {
      expect(restart.code, restart.output).toBe(0);
      expectBar(restart.output, "restart: filling memory");
      // The PID is a line of its own once the bar is cleared, whatever warnings come before it.
      const lines = restart.output.replaceAll("\r\x1b[K", "\n").split(/\r?\n/);
      expect(lines, JSON.stringify(restart.output)).toContain(String(run.pid));
    } finally {
      try {
        process.kill(run.pid, "SIGKILL");
      } catch {
        // it may have ended with the terminal (SIGHUP)
      }
    }
  });
});

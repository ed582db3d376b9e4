// What cr says must not mislead (issue 16): usage errors in one line, never an internal error or
// a hang; an image inspect finds damaged is an error; --interval ends cleanly with its process;
// a PID held by a zombie is called one. Real processes, the built CLI.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot, Store } from "@cr/core";
import { runCli, type CliResult } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";

let dir: string;
beforeAll(() => {
  dir = tmpDir("cr-messages-");
});
afterAll(() => cleanupTmp());

/** One `cr: ` line on stderr, a non-zero exit that is not an internal error's, within 5 s. */
function expectOneLine(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code, result.stderr).not.toBe(70);
  expect(result.stderr.trimEnd().split("\n"), result.stderr).toHaveLength(1);
  expect(result.stderr).toMatch(/^cr: /);
  expect(result.stderr).not.toMatch(/internal error/);
  expect(result.stderr).toMatch(pattern);
  expect(result.ms).toBeLessThan(5_000);
}

/** A `sleep` started in the background by a shell that then never reaps it: killed, it stays a zombie. */
async function unreapedSleep(): Promise<{ pid: number; parent: number; stop(): void }> {
  const shell = spawn("sh", ["-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 1000"], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = await new Promise<number>((resolve) => shell.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
  // Until it has exec'd sleep, the forked shell still holds the test's stdout socket.
  for (const deadline = Date.now() + 5000; readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "sleep" && Date.now() < deadline; ) await sleep(10);
  // The background sleep first: while its parent lives, its PID is still its own (or its zombie's).
  const stop = () => {
    process.kill(pid, "SIGKILL");
    shell.kill("SIGKILL");
  };
  return { pid, parent: shell.pid!, stop };
}

describe("usage errors", () => {
  it("cr coalesce with nothing to keep: one line naming the options", async () => {
    expectOneLine(await runCli(["coalesce", "--store", join(dir, "none")]), /--keep-last N or --upto CRID/);
  });

  it("an --interval too long for any timer: one line, not a 1 ms loop", async () => {
    expectOneLine(await runCli(["snapshot", "1", "--interval", "99999999999999999999s"]), /interval 99999999999999999999s is longer than 30 days/);
  });
});

describe("cr inspect checks what it shows", () => {
  it("a CRID whose page data is damaged: the description, then one line naming file and offset, exit 1", async () => {
    const store = join(dir, "inspect-data");
    const { pid, stop } = await unreapedSleep();
    try {
      const crid = (await snapshot(pid, { store, incremental: false })).crid;
      const path = Store.open(store, { create: false }).imagePath("main", crid);
      const fd = openSync(path, "r+");
      writeSync(fd, Buffer.from("garbage!"), 0, 8, Math.floor(statSync(path).size / 2)); // inside the page data
      closeSync(fd);
      const result = await runCli(["inspect", "--store", store, String(crid)]);
      expectOneLine(result, new RegExp(`image ${path} \\(CRID ${crid}\\) at offset \\d+: PAGES body hash mismatch`));
      expect(result.stdout).toMatch(/^checked .*: DAMAGED/m);
    } finally {
      stop();
    }
  });

  it("an increment whose REF target is missing: one line naming the missing image, exit 1", async () => {
    const store = join(dir, "inspect-ref");
    const { pid, stop } = await unreapedSleep();
    try {
      const full = (await snapshot(pid, { store, incremental: false })).crid;
      const inc = (await snapshot(pid, { store, incremental: true })).crid;
      unlinkSync(Store.open(store, { create: false }).imagePath("main", full));
      expectOneLine(await runCli(["inspect", "--store", store, String(inc)]), new RegExp(`CRID ${full}`));
    } finally {
      stop();
    }
  });
});

describe("cr snapshot --interval", () => {
  it("ends with exit 0 and a summary when its process ends, whenever that happens", async () => {
    const store = join(dir, "interval");
    // Busy for 3 s of wall time however loaded the machine is: a count ended before cr started.
    const child = spawn("perl", ["-e", "my $end = time + 3; while (time < $end) {}"], { stdio: "ignore" });
    const result = await runCli(["snapshot", "--store", store, "--incremental", "--interval", "20ms", String(child.pid)]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^cr: process ${child.pid} ended: \\d+ snapshot\\(s\\) taken, CRIDs 1\\.\\.\\d+$`));
    expect(result.stderr).not.toMatch(/error/);
  });
});

describe("a process killed by cr snapshot --kill, and its PID", () => {
  it("an orphan, reaped by PID 1 within seconds: cr waits for it, and a restart right after gets the PID", async () => {
    const store = join(dir, "orphan");
    const shell = spawn("sh", ["-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = Number((await new Promise<Buffer>((resolve) => shell.stdout!.once("data", resolve))).toString().trim());
    try {
      const taken = await runCli(["snapshot", "--store", store, "--kill", String(pid)]);
      expect(taken.code, taken.stderr).toBe(0);
      expect(taken.stderr).not.toMatch(/note/);
      const restarted = await runCli(["restart", "--store", store, "--at", taken.stdout.trim(), "--detach"]);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(Number(restarted.stdout)).toBe(pid);
    } finally {
      process.kill(pid, "SIGKILL");
      await waitPidFree(pid);
    }
  });

  it("a parent that never reaps: snapshot says so, and restart names the checkpointed process's own zombie and its parent", async () => {
    const store = join(dir, "zombie");
    const { pid, parent, stop } = await unreapedSleep();
    try {
      const taken = await runCli(["snapshot", "--store", store, "--kill", String(pid)]);
      expect(taken.code, taken.stderr).toBe(0);
      expect(taken.stderr).toMatch(new RegExp(`cr: note: process ${pid} is killed, but its parent PID ${parent} \\(sleep\\) has not reaped it`));
      const result = await runCli(["restart", "--store", store, "--at", taken.stdout.trim()]);
      expectOneLine(result, new RegExp(`PID ${pid} is taken by the checkpointed process itself, killed but not yet reaped by its parent PID ${parent} \\(sleep\\)`));
    } finally {
      stop();
      await waitPidFree(pid);
    }
  });
});

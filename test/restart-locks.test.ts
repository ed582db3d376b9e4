// A restart while the checkpointed process still runs and holds its file locks (a snapshot
// without --kill, restarted with --any-pid): the restart fails with one line naming the file,
// the lock and its holder, leaves no process behind, and the original keeps its locks (its own
// check, after SIGTERM, still passes). The programs are those of test/zdtm (protocol: zdtm.h).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { expectOneLineError, runCli } from "./cli.js";
import { zdtmDir } from "./fixtures/build.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";

interface Started {
  child: ChildProcess;
  pid: number;
  out: string;
  exited: Promise<void>;
}

const started: Started[] = [];
afterEach(async () => {
  for (const run of started.splice(0)) {
    run.child.kill("SIGKILL");
    await run.exited;
  }
});
afterAll(() => cleanupTmp());

async function start(name: string): Promise<Started> {
  const out = join(tmpDir(`cr-locks-${name}-`), "out");
  const child = spawn(join(zdtmDir, "bin", name), [out], { cwd: dirname(out), stdio: "ignore" });
  const run = { child, pid: child.pid!, out, exited: new Promise<void>((resolve) => child.once("exit", () => resolve())) };
  started.push(run);
  for (const deadline = Date.now() + 10_000; !existsSync(`${out}.ready`); await sleep(10)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} not set up`);
  }
  return run;
}

/** Snapshot (left running), then a restart under another PID while the original holds its locks. */
async function restartBesideOriginal(run: Started) {
  const store = tmpDir("cr-locks-store-");
  const taken = await runCli(["snapshot", "--store", store, String(run.pid)]);
  expect(taken.code, taken.stderr).toBe(0);
  const result = await runCli(["restart", "--store", store, "--at", taken.stdout.trim(), "--any-pid", "--detach"]);
  expect(processesIn(dirname(run.out)), "a restarted process is left").toEqual([run.pid]);
  return result;
}

/** The pids whose working directory is `dir` (a restored process has the saved one). */
function processesIn(dir: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === dir;
      } catch {
        return false; // exited while listed, or a kernel thread
      }
    })
    .map(Number);
}

/** The original's own verdict on its locks, after SIGTERM. */
async function verdict(run: Started): Promise<string> {
  expect(run.child.exitCode, "the original runs on").toBeNull();
  run.child.kill("SIGTERM");
  await run.exited;
  return existsSync(run.out) ? readFileSync(run.out, "utf8").trim() : "(no result)";
}

describe("a restart while the original holds its locks fails with one line", () => {
  it("POSIX record lock: names the file, the range and the holder", async () => {
    const run = await start("posix_locks");
    const result = await restartBesideOriginal(run);
    expectOneLineError(result, new RegExp(`step "restore file locks": fd 3 \\(.*/data\\): the POSIX write lock on bytes 0-9 cannot be taken again: it is held by PID ${run.pid} \\(posix_locks\\)`));
    expect(await verdict(run)).toBe("PASS");
  });

  it("flock: names the exclusive lock and the holder", async () => {
    const run = await start("flock_locks");
    const result = await restartBesideOriginal(run);
    expectOneLineError(result, new RegExp(`step "restore file locks": fd 4 \\(.*/excl\\): the flock \\(exclusive\\) cannot be taken again: it is held by PID ${run.pid} \\(flock_locks\\)`));
    expect(await verdict(run)).toBe("PASS");
  });

  it("OFD lock: names the range and the holder as another process's open file", async () => {
    const run = await start("ofd_locks");
    const result = await restartBesideOriginal(run);
    expectOneLineError(result, /step "restore file locks": fd 3 \(.*\/data\): the OFD write lock on bytes 0-9 cannot be taken again: it is held by an open file of another process/);
    expect(await verdict(run)).toBe("PASS");
  });

  it("lease: refused before any file is opened, so the original's leases are not broken", async () => {
    const run = await start("lease");
    const result = await restartBesideOriginal(run);
    expectOneLineError(result, new RegExp(`step "check files": fd 4 \\(.*/write-leased\\): the write lease cannot be taken again: PID ${run.pid} \\(lease\\) holds a lease on the file`));
    expect(await verdict(run)).toBe("PASS");
  });
});

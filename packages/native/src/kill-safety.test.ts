// Design decision 5: whenever cr is killed, even in the middle of an injected syscall, the
// target runs on correctly.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

import { freeze, getRegs, getSigmask, REG, scratch, thaw } from "./index.js";
import { expectProgress, killTargets, procStatus, programsDir, sleep, startTarget, Target } from "./test-support/programs.js";

afterEach(killTargets);

function startDriver(pid: number, mode: string): Target {
  return new Target(spawn(process.execPath, [join(programsDir, "inject-loop.mjs"), String(pid), mode], { stdio: ["ignore", "pipe", "inherit"] }));
}

async function killDriver(driver: Target): Promise<void> {
  driver.kill();
  if (driver.proc.exitCode === null && driver.proc.signalCode === null) await new Promise((resolve) => driver.proc.once("exit", resolve));
}

function trampolineCount(pid: number, base: bigint): number {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n");
  return maps.filter((line) => line.startsWith(base.toString(16) + "-")).length;
}

// The bootstrap injection (creating the trampoline) is the one documented unsafe window, so
// the trampoline is made before the kills start.
function prepareTrampoline(pid: number): bigint {
  const tids = freeze(pid);
  const base = scratch(tids[0]!).address - 4096n - 256n;
  thaw(tids);
  return base;
}

/** `worker sleep` with its trampoline made, and a driver in `mode` that has printed `ready`. */
async function sleeperWithDriver(mode: string, ready: RegExp): Promise<{ target: Target; base: bigint; driver: Target }> {
  const target = await startTarget("worker", ["sleep"]);
  await target.waitFor(/^slept 1/);
  const base = prepareTrampoline(target.pid);
  const driver = startDriver(target.pid, mode);
  await driver.waitFor(ready);
  return { target, base, driver };
}

/** The sleeper sleeps `times` more times, without a failure, with no signal blocked. */
async function expectSleepsOn(target: Target, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await target.waitFor(/^slept/, target.lines.length);
  expect(target.failures()).toEqual([]);
  expect(procStatus(target.pid, "SigBlk")).toBe("0000000000000000");
}

describe("killing cr at any moment", () => {
  it("leaves a multi-threaded target running correctly after 30 random SIGKILLs of the driver", async () => {
    const target = await startTarget("worker", ["busy"]);
    const base = prepareTrampoline(target.pid);
    for (let round = 0; round < 30; round++) {
      const driver = startDriver(target.pid, "loop");
      await driver.waitFor(/^started/);
      await sleep(Math.random() * 40);
      expect(driver.failures()).toEqual([]);
      await killDriver(driver);
    }
    await sleep(600); // a thread the last driver left waiting in the query loop goes back within 500 ms
    expect(procStatus(target.pid, "TracerPid")).toBe("0");
    await expectProgress(target, 5);
    expect(target.failures()).toEqual([]);
    expect(trampolineCount(target.pid, base)).toBe(1);
  });

  it("returns a thread parked after an injected syscall to where it was", async () => {
    const { target, driver } = await sleeperWithDriver("parked", /^parked/);
    await killDriver(driver);
    await expectSleepsOn(target, 2);
  });

  it("returns a thread left waiting in the query loop to where it was once the wait ends", async () => {
    const { target, driver } = await sleeperWithDriver("queried", /^queried/);
    await killDriver(driver);
    await expectSleepsOn(target, 2);
  });

  it("a thread left waiting in the query loop and frozen again meanwhile is read and put back with its own state", async () => {
    const { target, base, driver } = await sleeperWithDriver("queried", /^queried/);
    await killDriver(driver);
    const tids = freeze(target.pid);
    const rip = getRegs(tids[0]!).readBigUInt64LE(REG.rip);
    expect(rip < base || rip >= base + 8192n, "outside the trampoline").toBe(true);
    expect(getSigmask(tids[0]!)).toBe(0n);
    thaw(tids);
    await expectSleepsOn(target, 1);
  });

  it("a thread that waited out the query loop while cr was held up runs on unharmed, and cr says so", async () => {
    const { target, driver } = await sleeperWithDriver("slow", /^querying/);
    while (!readFileSync(`/proc/${target.pid}/syscall`, "utf8").startsWith("271 ")) await sleep(5); // in the query (ppoll)
    driver.proc.kill("SIGSTOP"); // held up past the query's 500 ms and the loop's 500 ms wait
    await sleep(1500);
    driver.proc.kill("SIGCONT");
    await driver.waitFor(/^thawed/);
    expect(driver.lines).toContain("failed EAGAIN");
    await expectSleepsOn(target, 2);
    // Put back at the state of the freeze, its loop would count from there again.
    const counts = target.lines.filter((l) => l.startsWith("slept ")).map((l) => Number(l.split(" ")[1]));
    expect(counts).toEqual(counts.map((_, i) => i + 1));
    expect(procStatus(target.pid, "TracerPid")).toBe("0");
  });

  it("returns a thread orphaned inside an injected syscall to where it was", async () => {
    const { target, driver } = await sleeperWithDriver("orphan", /^injecting/);
    await sleep(50);
    await killDriver(driver);
    await expectSleepsOn(target, 2);
  });
});

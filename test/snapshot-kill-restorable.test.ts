// `cr snapshot --kill` kills only a process whose image restart would accept: it first opens
// every path-based object of the image the way restart does, and a refusal leaves the process
// running with one line saying why.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { checkProcess } from "@cr/core";
import { expectOneLineError, runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";

afterAll(() => cleanupTmp());

/** A process holding `file` open for appending on fd 3, once it is set up. */
async function holdOpen(file: string) {
  const child = spawn("sh", ["-c", `exec 3>>${file}; exec sleep 1000`], { stdio: "ignore" });
  const pid = child.pid!;
  while (!existsSync(`/proc/${pid}/fd/3`) || !readlinkSync(`/proc/${pid}/exe`).endsWith("sleep")) await sleep(10);
  return { child, pid };
}

function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

it("a process whose output file cannot be opened again (immutable) is not killed, and cr says why", async () => {
  const dir = tmpDir("cr-kill-restorable-");
  const file = join(dir, "out");
  const { child, pid } = await holdOpen(file);
  execFileSync("chattr", ["+i", file]); // even root cannot open it for writing now
  try {
    expect((await checkProcess(pid)).problems).toEqual([]);
    const result = await runCli(["snapshot", "--store", join(dir, "store"), "--kill", String(pid)]);
    expectOneLineError(result, new RegExp(`^process ${pid} not killed: a restart of its image would fail: cannot open ${file} for fd 3: EPERM`));
    expect(child.exitCode, "the process runs on").toBeNull();
    expect(stateOf(pid), "the process runs on, not frozen").toMatch(/^[RS]$/);
  } finally {
    execFileSync("chattr", ["-i", file]);
    child.kill("SIGKILL");
  }
});

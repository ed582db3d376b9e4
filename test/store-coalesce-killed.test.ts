// `cr coalesce` of synthetic chains killed with SIGKILL (store issue): at random moments, and
// (through strace) on entering each syscall of its swap; every time the next command finishes or
// undoes it and every kept CRID resolves to the same memory. (A real process's chain:
// store-coalesce.test.ts.)
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliMain } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { checkRecovered, copyStore, KEEP, killRounds, leftover, running, stopRunning, synthetic } from "./coalesce-kills.js";

const dir = tmpDir("cr-coalesce-killed-");
const strace = "/usr/bin/strace";

afterAll(async () => {
  await stopRunning();
  cleanupTmp();
});

describe("cr coalesce of synthetic chains killed with SIGKILL", () => {
  it("at random moments of a coalesce of synthetic chains: every branch is as before or as after, and every kept CRID resolves to the same memory", async () => {
    const { template, want } = await synthetic(dir);
    const phases = await killRounds(dir, template, want, 15, "synthetic", 3);
    console.log("synthetic kills landed:", Object.fromEntries(phases));
  }, 300_000); // hang guards: a loaded machine takes several times as long

  it("at each step of the swap (strace kills it on entering the syscall): the next command finishes or undoes it", async () => {
    const { template, want } = await synthetic(dir);
    // The renames are: branch.json into .main.new, main -> .main.old, .main.new -> main; then
    // .main.old is removed file by file.
    const steps: [syscall: string, nth: number, phase: string][] = [
      ["renameat", 1, "building the new branch"],
      ["renameat", 2, "staged, before the swap"],
      ["renameat", 3, "between the two renames"],
      ["unlinkat", 1, "removing the old branch"],
    ];
    for (const [syscall, nth, phase] of steps) {
      const store = copyStore(template, join(dir, `swap-${syscall}-${nth}`));
      const inject = ["-f", "-qq", "-o", "/dev/null", "-e", `trace=${syscall}`, "-e", `inject=${syscall}:signal=KILL:when=${nth}`];
      const child = spawn(strace, [...inject, process.execPath, cliMain, "coalesce", "--store", store, "--keep-last", String(KEEP)], { stdio: "ignore" });
      running.add(child);
      await new Promise((resolve) => child.once("exit", resolve));
      running.delete(child);
      const label = `killed entering ${syscall} #${nth}`;
      expect(leftover(store, want.before), label).toBe(phase);
      // Once main has been renamed away, the new state is complete: recovery rolls forward.
      const coalesced = phase === "between the two renames" || phase === "removing the old branch";
      expect(await checkRecovered(store, want, label), label).toBe(coalesced);
      rmSync(store, { recursive: true, force: true });
    }
  }, 60_000);
});

// A full disk: `cr snapshot` of a process too large for what is left of the store's file system
// fails with one line, the process runs on to the output of an uninterrupted run, and the store
// keeps every image it had and gains no partial one. Real process, real (small tmpfs) file system.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { reference, startWorkload, type Workload } from "./restart-helpers.js";

const dir = tmpDir("cr-full-disk-");
const mounted = join(dir, "small");
afterAll(() => {
  execFileSync("umount", ["-l", mounted]);
  cleanupTmp();
});

/** 96 MiB of heap: above direct-io's threshold, so its image is written with O_DIRECT. */
const big: Workload = { name: "big", command: fixture("heap_checksum"), args: ["OUT", "96", "8000", "100"], writesOut: true };
const small: Workload = { name: "small", command: fixture("heap_checksum"), args: ["OUT", "4", "50000", "100"], writesOut: true };

describe("cr snapshot on a full disk", () => {
  it("fails with one line, harms neither the process nor the images already stored", async () => {
    mkdirSync(mounted);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", mounted]);
    const store = join(mounted, "store");
    const expected = await reference(big, dir);

    const first = startWorkload(small, dir, "first");
    await sleep(100);
    const ok = await runCli(["snapshot", "--store", store, String(first.pid)]);
    expect(ok.code, ok.stderr).toBe(0);
    first.child.kill("SIGKILL");
    const before = readdirSync(join(store, "branches", "main")).sort();

    const run = startWorkload(big, dir, "run");
    await sleep(300);
    const full = await runCli(["snapshot", "--store", store, String(run.pid)]);
    expect(full.code).not.toBe(0);
    expect(full.stdout).toBe("");
    expect(full.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(full.stderr).toMatch(/^cr: .*no space left on device/i);
    expect(full.stderr).toContain(store);

    expect(await run.exited).toBe(0);
    expect(readFileSync(run.out)).toEqual(expected.output);
    expect(readdirSync(join(store, "branches", "main")).sort()).toEqual(before);
    const verify = await runCli(["verify", "--store", store]);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

// Shared memory written between two snapshots by a child forked meanwhile: the fork left the
// child's mapping untracked, so the parent's write tracking never sees the write. The next
// increment must hold it all the same, whether the child was reaped with wait, reaped unseen
// (SIGCHLD ignored), or runs on without the mapping; and when a child tracked since the parent
// image writes and then unmaps it, so that no mapping left reports the write. Real processes,
// the built CLI.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeKernel } from "@cr/native";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { readCheckpointMemory } from "./image-pages.js";
import { killTree, restartAndWait, treeOf, waitPidFree } from "./restart-helpers.js";
import { snap } from "./store-helpers.js";

const started: ChildProcess[] = [];
afterAll(async () => {
  for (const child of started) await killTree(child.pid!);
  cleanupTmp();
});

/** Polls `done` every 10 ms for up to 10 s. */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (done()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** The first byte of the page at `address` of process `pid`. */
function byteAt(pid: number, address: bigint): number {
  const fd = openSync(`/proc/${pid}/mem`, "r");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, Number(address));
    return b[0]!;
  } finally {
    closeSync(fd);
  }
}

describe("shared memory a child forked between two snapshots wrote", () => {
  const how = { wait: "reaped with wait", ignore: "reaped unseen: SIGCHLD ignored", alive: "running on without the mapping", unmap: "tracked since the parent image, then unmapped it" };
  for (const mode of ["wait", "ignore", "alive", "unmap"] as const) {
    it(`is in the next increment (child ${how[mode]})`, async (ctx) => {
      if (!probeKernel().writeProtectScan.available) ctx.skip("no write-protect tracker on this kernel");
      const dir = tmpDir(`cr-fork-writer-${mode}-`);
      const store = join(dir, "store");
      const outPath = join(dir, "out");
      const out = openSync(outPath, "w");
      const child = spawn(fixture("fork_writer"), [mode], { stdio: ["ignore", out, out] });
      closeSync(out);
      started.push(child);
      const pid = child.pid!;
      await until("the fixture is ready", () => readFileSync(outPath, "utf8").endsWith("\n"));
      const [, address, writer] = readFileSync(outPath, "utf8").trim().split(" ");
      const shared = BigInt(address!);
      const page = shared + 4096n; // the first signal's page

      await snap(["--store", store, String(pid)]);
      await snap(["--store", store, "--incremental", String(pid)]); // the tracking is armed and trusted by now
      process.kill(mode === "unmap" ? Number(writer) : pid, "SIGUSR1");
      await until("the child wrote its page", () => byteAt(pid, page) === 0x5a);
      if (mode === "alive" || mode === "unmap") await until("the child unmapped the memory", () => treeOf(pid).length === 2 && !readFileSync(`/proc/${treeOf(pid)[1]}/maps`, "utf8").includes(shared.toString(16)));
      else await until("the child is gone", () => treeOf(pid).length === 1);
      const next = await snap(["--store", store, "--incremental", String(pid)]);

      const memory = await readCheckpointMemory(store, BigInt(next.crid));
      expect(memory.pages.get(page)?.bytes[0], `the page the child wrote, in checkpoint ${next.crid}`).toBe(0x5a);
      expect(memory.pages.get(shared)?.bytes[0]).toBe(0x11);
    }, 60_000);
  }
});

describe("shared memory of which a part only a later process of the tree maps", () => {
  it("comes back whole after a restart, though the first to map it no longer shows that part", async () => {
    const dir = tmpDir("cr-partial-shared-");
    const [store, gate, outPath] = [join(dir, "store"), join(dir, "gate"), join(dir, "out")];
    const out = openSync(outPath, "w");
    const child = spawn(fixture("partial_shared"), [gate], { stdio: ["ignore", out, out] });
    closeSync(out);
    started.push(child);
    await until("the fixture is ready", () => readFileSync(outPath, "utf8") === "ready\n");
    const members = treeOf(child.pid!);
    const { crid } = await snap(["--store", store, "--kill", String(child.pid)]);
    for (const pid of members) await waitPidFree(pid);
    writeFileSync(gate, "");
    const restarted = await restartAndWait(store, BigInt(crid));
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(readFileSync(outPath, "utf8")).toBe("ready\nchild: 41 41\nparent: 41\n");
  }, 60_000);
});

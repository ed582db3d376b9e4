// A cr killed while it reads a frozen copy (docs/checkpoint.md, "Copy-on-write"): `cr snapshot`
// (the CLI, full snapshots of a 64 MiB target that keeps rewriting its memory, so each one reads
// its pages from a frozen copy after the thaw) is killed with SIGKILL at a random moment of that
// write-back, 50 times: the target runs on unharmed (not stopped, not traced, no errors, no
// signal, progressing), the copy is dead at once and never ran, the store holds no partial image,
// and the next snapshot reaps the dead copy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FROZEN_COPY_NAME } from "@cr/native";
import { runCli, spawnCli } from "./cli.js";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir } from "./harness.js";
import { checkStore, report, waitUntraced } from "./target-report.js";

const BALLAST_MIB = 64;

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

/** The frozen copies whose parent is `pid` (its children files: cheap enough to ask every few ms). */
function copiesOf(pid: number): { pid: number; state: string; exitStatus: number }[] {
  const out: { pid: number; state: string; exitStatus: number }[] = [];
  for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${child}/stat`, "utf8");
    } catch {
      continue; // reaped meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[n - 3] is proc(5)'s field n
    if (comm === FROZEN_COPY_NAME) out.push({ pid: Number(child), state: fields[0]!, exitStatus: Number(fields[49]) });
  }
  return out;
}

/** Waits for a live frozen copy of `pid` (the write-back began); false if `done` settles first. */
async function copyAppears(pid: number, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    if (copiesOf(pid).some((c) => c.state !== "Z")) return true;
    await sleep(3);
  }
  return false;
}

/** The copies of `pid` once none runs any more (a killed process with 64 MiB takes a moment to exit). */
async function copiesDead(pid: number, ms = 5000): Promise<{ pid: number; state: string; exitStatus: number }[]> {
  const deadline = Date.now() + ms;
  let copies = copiesOf(pid);
  while (copies.some((c) => c.state !== "Z") && Date.now() < deadline) {
    await sleep(10);
    copies = copiesOf(pid);
  }
  return copies;
}

describe("a cr killed during the write-back of a frozen copy goes unnoticed", () => {
  it("cr snapshot killed with SIGKILL at random moments of its write-back, 50 times: the target and the store are unharmed, no copy is left running", async () => {
    const dir = tmpDir("cr-killed-write-back-");
    const store = join(dir, "store");
    const t = await startFixture("ballast_target", [join(dir, "out.txt")], { env: { BALLAST_MIB: String(BALLAST_MIB), BALLAST_RATE: String(BALLAST_MIB / 4) } });
    await t.waitReady(20_000);
    const args = ["snapshot", String(t.pid), "--store", store, "--json"];
    // A first run, whole: how long its frozen copy lives here, the span the kills fall in.
    const first = spawnCli(args);
    let stdout = "";
    first.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    const firstEnded = new Promise<number | null>((resolve) => first.once("close", (code) => resolve(code)));
    expect(await copyAppears(t.pid, firstEnded), "the first snapshot made a frozen copy").toBe(true);
    const appeared = Date.now();
    while (copiesOf(t.pid).some((c) => c.state !== "Z")) await sleep(3);
    const writeBackMs = Date.now() - appeared;
    expect(await firstEnded).toBe(0);
    expect((JSON.parse(stdout) as { frozenCopies: number }).frozenCopies, "a full snapshot of 64 MiB reads a frozen copy").toBe(1);

    let last = await report(t);
    let inWriteBack = 0;
    let finished = 0;
    for (let k = 0; k < 50; k++) {
      const child = spawnCli(args);
      const exited = new Promise<{ signal: NodeJS.Signals | null }>((resolve) => child.once("close", (_code, signal) => resolve({ signal })));
      if (await copyAppears(t.pid, exited)) {
        inWriteBack++;
        await Promise.race([sleep(Math.random() * writeBackMs), exited]);
      }
      child.kill("SIGKILL");
      if ((await exited).signal !== "SIGKILL") finished++;
      const s = await waitUntraced(t.pid);
      expect(s.tracer, `kill ${k}: the target is still traced`).toBe(0);
      expect(s.state, `kill ${k}: the target is stopped`).not.toMatch(/^[tT]$/);
      const copies = await copiesDead(t.pid);
      expect(copies.filter((c) => c.state !== "Z"), `kill ${k}: a frozen copy still runs`).toEqual([]);
      // Killed by SIGKILL (status 9), never exited by itself: it never ran (the trampoline's exit would say 0).
      expect(copies.filter((c) => c.exitStatus !== 9), `kill ${k}: a frozen copy ended otherwise than by SIGKILL`).toEqual([]);
      const now = await report(t);
      expect(now.errors, `kill ${k}: ${now.line}`).toBe(0);
      expect(now.signals, `kill ${k}: ${now.line}`).toBe(0);
      expect(now.iterations, `kill ${k}: the target progresses`).toBeGreaterThan(last.iterations);
      last = now;
    }
    console.log(`50 kills within a write-back of ${writeBackMs} ms: ${inWriteBack - finished} during it, ${finished} after cr had finished`);
    expect(inWriteBack - finished, "most kills land in a write-back").toBeGreaterThan(25);
    await checkStore(store);

    const after = await runCli(args);
    expect(after.code, `cr snapshot after the kills: ${after.stderr}`).toBe(0);
    expect(copiesOf(t.pid), "the dead copies are reaped").toEqual([]);
    await checkStore(store);
  }, 180_000);
});

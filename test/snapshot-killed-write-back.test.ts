// A cr killed while it reads a frozen copy (docs/checkpoint.md, "Copy-on-write"): `cr snapshot`
// (the CLI, full snapshots of a 64 MiB target that keeps rewriting its memory, so each one reads
// its pages from a frozen copy after the thaw) is killed with SIGKILL at a random moment of that
// write-back, 50 times: the target runs on unharmed (not stopped, not traced, no errors, no
// signal, progressing) with no child of cr's left in it, the copy, an orphan, is dead at once and
// never ran, its reaper takes it away, and the store holds no partial image.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FROZEN_COPY_NAME } from "@cr/native";
import { runCli, spawnCli } from "./cli.js";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir } from "./harness.js";
import { checkStore, readUntil, report, waitUntraced } from "./target-report.js";

const BALLAST_MIB = 64;

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

interface Copy {
  pid: number;
  ppid: number;
  state: string;
  exitStatus: number;
  /** The process tracing it, 0 for none: a live copy nobody traces is one cr left running. */
  tracer: number;
}

/** The process `pid` if it is a frozen copy. */
function copyAt(pid: string): Copy | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== FROZEN_COPY_NAME) return undefined;
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined; // reaped meanwhile
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[n - 3] is proc(5)'s field n
  return { pid: Number(pid), ppid: Number(fields[1]), state: fields[0]!, exitStatus: Number(fields[49]), tracer: Number(/TracerPid:\t(\d+)/.exec(status)?.[1] ?? 0) };
}

function childrenOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean);
}

/** The frozen copies among the children of `reaper` (its children file: cheap enough to read every few ms). */
function copiesUnder(reaper: number): Copy[] {
  return childrenOf(reaper).flatMap((pid) => copyAt(pid) ?? []);
}

/** All frozen copies, wherever they went. */
function allCopies(): Copy[] {
  return readdirSync("/proc").flatMap((pid) => (/^\d+$/.test(pid) ? (copyAt(pid) ?? []) : []));
}

/** Waits for the live frozen copy `cr` traces (its write-back began); undefined if `done` settles first. */
async function copyAppears(find: () => Copy[], cr: number, done: Promise<unknown>): Promise<Copy | undefined> {
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    const live = find().find((c) => c.tracer === cr && c.state !== "Z");
    if (live) return live;
    await sleep(3);
  }
  return undefined;
}

/** The copy `pid` once it no longer runs (a killed process with 64 MiB takes a moment to exit); undefined once reaped. */
async function copyDead(pid: number, ms = 5000): Promise<Copy | undefined> {
  const deadline = Date.now() + ms;
  let copy = copyAt(String(pid));
  while (copy && copy.state !== "Z" && Date.now() < deadline) {
    await sleep(10);
    copy = copyAt(String(pid));
  }
  return copy;
}

describe("a cr killed during the write-back of a frozen copy goes unnoticed", () => {
  it("cr snapshot killed with SIGKILL at random moments of its write-back, 50 times: the target and the store are unharmed, no copy is left running", async () => {
    const dir = tmpDir("cr-killed-write-back-");
    const store = join(dir, "store");
    const t = await startFixture("ballast_target", [join(dir, "out.txt")], { env: { BALLAST_MIB: String(BALLAST_MIB), BALLAST_RATE: String(BALLAST_MIB / 4) } });
    await t.waitReady(20_000);
    const args = ["snapshot", String(t.pid), "--store", store, "--json"];
    // A first run, whole: where the copies go (their reaper: init, or a subreaper above the
    // target), and how long a copy lives here, the span the kills fall in.
    const first = spawnCli(args);
    let stdout = "";
    first.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    const firstEnded = new Promise<number | null>((resolve) => first.once("close", (code) => resolve(code)));
    const firstCopy = await copyAppears(allCopies, first.pid!, firstEnded);
    expect(firstCopy, "the first snapshot made a frozen copy").toBeDefined();
    const reaper = firstCopy!.ppid;
    expect(reaper, "the copy is an orphan, no child of the target").not.toBe(t.pid);
    const appeared = Date.now();
    while ((copyAt(String(firstCopy!.pid))?.state ?? "Z") !== "Z") await sleep(3);
    let writeBackMs = Date.now() - appeared;
    expect(await firstEnded).toBe(0);
    expect((JSON.parse(stdout) as { frozenCopies: number }).frozenCopies, "a full snapshot of 64 MiB reads a frozen copy").toBe(1);

    let last = await report(t);
    let duringWriteBack = 0;
    for (let k = 0; k < 50; k++) {
      const child = spawnCli(args);
      const exited = new Promise<{ signal: NodeJS.Signals | null }>((resolve) => child.once("close", (_code, signal) => resolve({ signal })));
      const copy = await copyAppears(() => copiesUnder(reaper), child.pid!, exited);
      if (copy) await Promise.race([sleep(Math.random() * writeBackMs * 0.8), exited]);
      const live = copy && copyAt(String(copy.pid));
      if (live && live.state !== "Z" && live.tracer === child.pid) duringWriteBack++; // cr still reads it
      else if (copy) writeBackMs *= 0.8; // the first run's write-back was longer than this one's
      child.kill("SIGKILL");
      await exited;
      const s = await waitUntraced(t.pid);
      expect(s.tracer, `kill ${k}: the target is still traced`).toBe(0);
      expect(s.state, `kill ${k}: the target is stopped`).not.toMatch(/^[tT]$/);
      expect(childrenOf(t.pid), `kill ${k}: a child of cr's is left in the target`).toEqual([]);
      if (copy) {
        const dead = await copyDead(copy.pid);
        expect(dead?.state ?? "Z", `kill ${k}: the frozen copy still runs`).toBe("Z");
        // Killed by SIGKILL (status 9), never exited by itself: it never ran (the trampoline's exit would say 0).
        if (dead) expect(dead.exitStatus, `kill ${k}: the frozen copy ended otherwise than by SIGKILL`).toBe(9);
      }
      // A copy nobody traces that was not killed runs on. A killed one (exit status 9) is dying,
      // and may come under the reaper only now, once the go-between that forked it is gone.
      const unheld = (c: Copy) => c.tracer === 0 && c.state !== "Z" && c.exitStatus !== 9;
      for (let i = 0; i < 500 && copiesUnder(reaper).some(unheld); i++) await sleep(10);
      expect(copiesUnder(reaper).filter(unheld), `kill ${k}: a frozen copy nobody holds runs`).toEqual([]);
      const now = await readUntil(() => report(t), (r) => r.iterations > last.iterations);
      expect(now.errors, `kill ${k}: ${now.line}`).toBe(0);
      expect(now.signals, `kill ${k}: ${now.line}`).toBe(0);
      expect(now.iterations, `kill ${k}: the target progresses`).toBeGreaterThan(last.iterations);
      last = now;
    }
    console.log(`50 kills, ${duringWriteBack} of them while cr read its frozen copy (a write-back of ${writeBackMs.toFixed(0)} ms here)`);
    expect(duringWriteBack, "most kills land in a write-back").toBeGreaterThan(25);
    await checkStore(store, { afterKills: true });

    const after = await runCli(args);
    expect(after.code, `cr snapshot after the kills: ${after.stderr}`).toBe(0);
    await checkStore(store);
    const dead = (c: Copy) => c.tracer === 0;
    for (let i = 0; i < 600 && copiesUnder(reaper).some(dead); i++) await sleep(100); // init reaps orphans slowly here
    expect(copiesUnder(reaper).filter(dead), "the dead copies are reaped").toEqual([]);
  }, 180_000);
});

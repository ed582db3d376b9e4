// The fixture programs themselves, without cr: each starts, answers, and behaves as documented
// at the top of its source file. If these fail, an end-to-end failure says nothing about cr.

import { checkProcess } from "@cr/core";
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir, type Fixture } from "./harness.js";
import { checkPattern, isZeroPages, PAGE_SIZE, patternPages } from "./patterns.js";

afterEach(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

async function tracker(): Promise<Fixture> {
  const t = await startFixture("tracker_target");
  await t.waitReady();
  return t;
}

describe("harness", () => {
  it("times out clearly, reports exits, and stops idempotently", async () => {
    const t = await tracker();
    await expect(t.command("", 200)).rejects.toThrow(/tracker_target \(pid \d+\): command '': no reply within 200 ms/);
    await t.stop();
    await t.stop();
    expect(t.exitStatus()).toEqual({ code: null, signal: "SIGKILL" });
    await expect(t.command("addr 0")).rejects.toThrow(/killed by SIGKILL/);
    const dir = tmpDir("cr-harness-");
    expect(existsSync(dir)).toBe(true);
    cleanupTmp();
    expect(existsSync(dir)).toBe(false);
  });
});

describe("tracker_target", () => {
  it("map + write + dump gives the pattern the TS twin computes", async () => {
    const dir = tmpDir();
    const t = await tracker();
    expect(await t.command("map 3 8")).toMatch(/^0x[0-9a-f]+$/);
    expect(await t.command("write 3 2 4 77")).toBe("ok");
    expect(await t.command(`dump 3 ${dir}/r3`)).toBe("ok");
    const bytes = readFileSync(`${dir}/r3`);
    expect(bytes.length).toBe(8 * PAGE_SIZE);
    expect(isZeroPages(bytes, 0, 2)).toBe(true);
    expect(checkPattern(bytes, 2 * PAGE_SIZE, 77, 2, 4)).toBeNull();
    expect(bytes.subarray(2 * PAGE_SIZE, 6 * PAGE_SIZE).equals(patternPages(77, 2, 4))).toBe(true);
    expect(isZeroPages(bytes, 6 * PAGE_SIZE, 2)).toBe(true);
    expect(checkPattern(bytes, 2 * PAGE_SIZE, 78, 2, 4)).toMatch(/^page 2 word 0/);
    expect(await t.command("check 3 2 4 77")).toBe("ok");
    expect(await t.command("check 3 2 4 78")).toBe("mismatch page=2 word=0");
    expect(await t.command("checkzero 3 6 2")).toBe("ok");
    expect(await t.command("checkzero 3 0 3")).toBe("nonzero page=2");
    // A partial dump holds just those pages.
    expect(await t.command(`dump 3 ${dir}/part 3 2`)).toBe("ok");
    expect(readFileSync(`${dir}/part`).equals(patternPages(77, 3, 2))).toBe(true);
  });

  it("twrite writes from the second thread, a different tid", async () => {
    const t = await tracker();
    const m = /^main=(\d+) worker=(\d+)$/.exec(await t.command("tids"));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(t.pid);
    expect(Number(m![2])).not.toBe(t.pid);
    expect(existsSync(`/proc/${t.pid}/task/${m![2]}`)).toBe(true);
    await t.command("map 0 4");
    expect(await t.command("twrite 0 1 2 5")).toBe("ok");
    expect(await t.command("check 0 1 2 5")).toBe("ok");
    expect(await t.command("checkzero 0 0 1")).toBe("ok");
  });

  it("kread puts the file's bytes in memory", async () => {
    const dir = tmpDir();
    const t = await tracker();
    const file = join(dir, "src");
    writeFileSync(file, patternPages(9, 0, 3));
    await t.command("map 1 5");
    expect(await t.command(`kread 1 1 3 ${file}`)).toBe("ok");
    await t.command(`dump 1 ${dir}/out`);
    const bytes = readFileSync(`${dir}/out`);
    expect(bytes.subarray(PAGE_SIZE, 4 * PAGE_SIZE).equals(readFileSync(file))).toBe(true);
    expect(isZeroPages(bytes, 0, 1) && isZeroPages(bytes, 4 * PAGE_SIZE, 1)).toBe(true);
    expect(await t.command(`kread 1 0 4 ${file}`)).toMatch(/^error read .* short/);
  });

  it("mremap changes the address and keeps the content", async () => {
    const dir = tmpDir();
    const t = await tracker();
    const before = await t.command("map 2 4");
    await t.command("write 2 0 4 123");
    const after = await t.command("mremap 2 6");
    expect(after).toMatch(/^0x[0-9a-f]+$/);
    expect(after).not.toBe(before);
    expect(await t.command("addr 2")).toBe(after);
    expect(await t.command("check 2 0 4 123")).toBe("ok");
    expect(await t.command("checkzero 2 4 2")).toBe("ok");
    await t.command(`dump 2 ${dir}/m`);
    expect(checkPattern(readFileSync(`${dir}/m`), 0, 123, 0, 4)).toBeNull();
    // Nothing is mapped at the old address any more.
    const old = BigInt(before);
    const covers = readFileSync(`/proc/${t.pid}/maps`, "utf8")
      .split("\n")
      .filter((l) => l)
      .some((l) => {
        const [lo, hi] = l.split(" ")[0]!.split("-").map((x) => BigInt("0x" + x));
        return lo! <= old && old < hi!;
      });
    expect(covers).toBe(false);
  });

  it("dontneed zeroes anonymous pages, munmap leaves holes, dontdump is accepted", async () => {
    const dir = tmpDir();
    const t = await tracker();
    await t.command("map 4 6");
    await t.command("write 4 0 6 1");
    expect(await t.command("dontneed 4 1 2")).toBe("ok");
    expect(await t.command("checkzero 4 1 2")).toBe("ok");
    expect(await t.command("check 4 3 3 1")).toBe("ok");
    expect(await t.command("munmap 4 5 1")).toBe("ok");
    expect(await t.command(`dump 4 ${dir}/x`)).toBe("error range page 5 is unmapped");
    expect(await t.command(`dump 4 ${dir}/x 0 5`)).toBe("ok");
    expect(statSync(`${dir}/x`).size).toBe(5 * PAGE_SIZE);
    expect(await t.command("dontdump 4")).toBe("ok");
    const smaps = readFileSync(`/proc/${t.pid}/smaps`, "utf8");
    expect(smaps).toMatch(/VmFlags:.* dd/);
  });

  it("mapfile maps a file privately: writes stay in memory, dontneed brings the file back", async () => {
    const dir = tmpDir();
    const t = await tracker();
    const file = join(dir, "backing");
    writeFileSync(file, patternPages(4, 0, 4));
    expect(await t.command(`mapfile 5 ${file} 4`)).toMatch(/^0x/);
    expect(await t.command("check 5 0 4 4")).toBe("ok");
    await t.command("write 5 1 1 6");
    expect(await t.command("check 5 1 1 6")).toBe("ok");
    expect(readFileSync(file).equals(patternPages(4, 0, 4))).toBe(true);
    await t.command("dontneed 5 1 1");
    expect(await t.command("check 5 0 4 4")).toBe("ok");
  });

  it("answers bad commands with an error line and keeps running", async () => {
    const t = await tracker();
    expect(await t.command("frobnicate")).toBe("error unknown command 'frobnicate'");
    expect(await t.command("write 7 0 1 1")).toBe("error region 7 not mapped");
    expect(await t.command("map 64 1")).toBe("error region bad id '64'");
    await t.command("map 7 2");
    expect(await t.command("write 7 1 2 1")).toMatch(/^error range pages 1\.\.3 outside/);
    expect(await t.command(`mapfile 8 /nonexistent/x 1`)).toMatch(/^error open \/nonexistent\/x No such file/);
    expect(await t.command("exit")).toBe("bye");
    expect(await t.waitExit()).toEqual({ code: 0, signal: null });
    await expect(t.command("addr 7")).rejects.toThrow(/exited with code 0/);
  });
});

interface Report {
  iterations: number;
  errors: number;
  signals: number;
  lastSignal: number;
  main: number;
  worker: number;
  lastError: string;
}

function parseReport(line: string): Report {
  const m = /^iterations=(\d+) errors=(\d+) signals=(\d+) lastSignal=(\d+) main=(\d+) worker=(\d+) lastError=(.*)$/.exec(line);
  if (!m) throw new Error(`not a progress_target report: '${line}'`);
  const n = m.slice(1, 7).map(Number);
  return { iterations: n[0]!, errors: n[1]!, signals: n[2]!, lastSignal: n[3]!, main: n[4]!, worker: n[5]!, lastError: m[7]! };
}

describe("progress_target", () => {
  it("runs without errors and its iterations grow in both threads", async () => {
    const dir = tmpDir();
    const out = join(dir, "out");
    const p = await startFixture("progress_target", [out]);
    await p.waitReady();
    await sleep(400);
    const a = parseReport(await p.command("report"));
    await sleep(600);
    const b = parseReport(await p.command("report"));
    expect(a).toMatchObject({ errors: 0, signals: 0, lastSignal: 0, lastError: "none" });
    expect(b).toMatchObject({ errors: 0, signals: 0, lastError: "none" });
    expect(b.main).toBeGreaterThan(a.main);
    expect(b.worker).toBeGreaterThan(a.worker);
    expect(b.iterations).toBe(b.main + b.worker);
    const last = await p.command("exit");
    expect(parseReport(last).errors).toBe(0);
    expect(await p.waitExit()).toEqual({ code: 0, signal: null });
    expect(readFileSync(out, "utf8")).toBe(last + "\n");
  });

  it("counts a signal sent with kill", async () => {
    const p = await startFixture("progress_target", [join(tmpDir(), "out")]);
    await p.waitReady();
    process.kill(p.pid, "SIGUSR1");
    await sleep(100);
    const r = parseReport(await p.command("report"));
    expect(r.signals).toBe(1);
    expect(r.lastSignal).toBe(10);
    // Stopping and continuing is noticed as SIGCONT (SIGSTOP itself cannot be caught).
    process.kill(p.pid, "SIGSTOP");
    await sleep(50);
    process.kill(p.pid, "SIGCONT");
    await sleep(100);
    const r2 = parseReport(await p.command("report"));
    expect(r2.signals).toBe(2);
    expect(r2.lastSignal).toBe(18);
  });
});

describe("resources_target", () => {
  it("holds every resource asked for, answers ping, exits on exit", async () => {
    const dir = tmpDir();
    const r = await startFixture("resources_target", [
      "--dir", dir, "tcp", "eventfd", "deleted", "pipe", "fifo", `${dir}/fifo`,
      "file", `${dir}/file`, "dir", dir, "devnull", "thread",
    ]);
    await r.waitReady();
    expect(await r.command("ping")).toBe("pong");
    const fds = Object.fromEntries((await r.command("fds")).split(" ").map((kv) => kv.split("=") as [string, string]));
    expect(Object.keys(fds)).toEqual(["tcp", "tcpport", "eventfd", "deleted", "pipe", "fifo", "file", "dir", "devnull", "thread"]);
    const link = (fd: string) => readlinkSafe(`/proc/${r.pid}/fd/${fd}`);
    expect(link(fds.tcp!)).toMatch(/^socket:\[\d+\]$/);
    expect(Number(fds.tcpport)).toBeGreaterThan(0);
    expect(link(fds.eventfd!)).toBe("anon_inode:[eventfd]");
    expect(link(fds.deleted!)).toMatch(new RegExp(`^${dir}/deleted-.* \\(deleted\\)$`));
    const [pr, pw] = fds.pipe!.split(",");
    expect(link(pr!)).toMatch(/^pipe:\[\d+\]$/);
    expect(link(pw!)).toBe(link(pr!));
    expect(link(fds.fifo!)).toBe(`${dir}/fifo`);
    expect(link(fds.file!)).toBe(`${dir}/file`);
    const fdinfo = readFileSync(`/proc/${r.pid}/fdinfo/${fds.file}`, "utf8");
    expect(fdinfo).toMatch(/^pos:\s+100$/m);
    expect(Number(/^flags:\s+(\d+)$/m.exec(fdinfo)![1]) & 0o2000).toBe(0o2000); // O_APPEND
    expect(link(fds.dir!)).toBe(dir);
    expect(link(fds.devnull!)).toBe("/dev/null");
    expect(existsSync(`/proc/${r.pid}/task/${fds.thread}`)).toBe(true);
    expect(await r.command("exit")).toBe("bye");
    expect(await r.waitExit()).toEqual({ code: 0, signal: null });
  });

  it("fails clearly on a resource it cannot set up", async () => {
    const r = await startFixture("resources_target", ["deleted"]);
    expect(await r.waitExit()).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toMatch(/needs --dir/);
  });
});

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch (e) {
    return `<${(e as Error).message}>`;
  }
}

/** Run a deterministic fixture to completion, SIGSTOP/SIGCONT-ing it `pauses` times midway. */
async function runToEnd(name: string, args: (out: string) => string[], pauses: number): Promise<string> {
  const out = join(tmpDir(), "out");
  const f = await startFixture(name, args(out));
  await f.waitReady(10_000);
  for (let i = 0; i < pauses; i++) {
    await sleep(60);
    if (f.exitStatus()) throw new Error(`${name} finished before pause ${i + 1}: make the run longer`);
    process.kill(f.pid, "SIGSTOP");
    await sleep(30);
    process.kill(f.pid, "SIGCONT");
  }
  expect(await f.waitExit(15_000)).toEqual({ code: 0, signal: null });
  return readFileSync(out, "utf8");
}

describe("deterministic output", () => {
  it("heap_checksum: byte-identical output with and without pauses", async () => {
    const args = (out: string) => [out, "8", "3500", "100"];
    const plain = await runToEnd("heap_checksum", args, 0);
    const paused = await runToEnd("heap_checksum", args, 3);
    expect(plain).toMatch(/^step 1000 checksum [0-9a-f]{16}\nstep 2000 checksum [0-9a-f]{16}\nstep 3000 checksum [0-9a-f]{16}\ndone [0-9a-f]{16}\n$/);
    expect(paused).toBe(plain);
  });

  it("threads_condvar: byte-identical output with and without pauses", async () => {
    const args = (out: string) => [out, "600", "150"];
    const plain = await runToEnd("threads_condvar", args, 0);
    const paused = await runToEnd("threads_condvar", args, 3);
    expect(plain).toMatch(/^round 100 checksum [0-9a-f]{16}\nround 200 checksum [0-9a-f]{16}\nround 300 checksum [0-9a-f]{16}\n(round \d+ checksum [0-9a-f]{16}\n){3}done [0-9a-f]{16}\n$/);
    expect(paused).toBe(plain);
  });
});

describe("harness stdio", () => {
  it("gives fixtures real pipes on stdio, so cr can checkpoint them", async () => {
    const t = await startFixture("tracker_target");
    await t.waitReady();
    const report = await checkProcess(t.pid);
    expect(report.problems).toEqual([]);
    expect(await t.command("addr 0")).toMatch(/^(0x[0-9a-f]+|error .*)$/);
  });
});

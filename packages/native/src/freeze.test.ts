import { readFileSync, readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";

import { freeze, injectQueries, injectSyscall, NativeError, thaw } from "./index.js";
import { expectProgress, killTargets, procStatus, sleep, startTarget } from "./test-support/programs.js";

afterEach(killTargets);

const threadState = (pid: number, tid: number) => readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").replace(/^.*\) /s, "")[0];

describe("freeze and thaw", () => {
  it("stops a single-threaded target and lets it run on unchanged", async () => {
    const target = await startTarget("worker", ["spin"]);
    await target.waitFor(/^alive/);
    const tids = freeze(target.pid);
    expect(tids).toEqual([target.pid]);
    expect(threadState(target.pid, target.pid)).toBe("t");
    await sleep(30);
    const linesWhileFrozen = target.lines.length;
    await sleep(150);
    expect(target.lines.length).toBe(linesWhileFrozen);
    thaw(tids);
    await expectProgress(target);
    expect(procStatus(target.pid, "TracerPid")).toBe("0");
    expect(target.failures()).toEqual([]);
  });

  it("catches every thread of a target that keeps creating threads, 20 times over", async () => {
    const target = await startTarget("worker", ["threads"]);
    await target.waitFor(/^alive/);
    for (let round = 0; round < 20; round++) {
      const tids = freeze(target.pid);
      expect(tids[0]).toBe(target.pid);
      expect(tids.length).toBeGreaterThanOrEqual(10); // main, 8 counters, spawner (+ a short-lived one)
      const tasks = readdirSync(`/proc/${target.pid}/task`).map(Number);
      expect([...tids].sort()).toEqual(tasks.sort());
      for (const tid of tids) expect(threadState(target.pid, tid)).toBe("t");
      thaw(tids);
    }
    await expectProgress(target);
    const [, spawnedBefore] = target.lastAlive();
    await expectProgress(target, 2);
    expect(target.lastAlive()[1]).toBeGreaterThan(spawnedBefore!);
    expect(target.failures()).toEqual([]);
  });

  it("refuses an already-traced target with EPERM and leaves it running", async () => {
    const target = await startTarget("worker", ["spin"]);
    const tracer = await startTarget("tracer", [String(target.pid)], /^traced/);
    const error = (() => {
      try {
        freeze(target.pid);
      } catch (e) {
        return e as NativeError;
      }
    })();
    expect(error).toBeInstanceOf(NativeError);
    expect(error).toMatchObject({ code: "EPERM", syscall: "ptrace(PTRACE_SEIZE)", pid: target.pid });
    expect(error!.message).toContain(`already traced by pid ${tracer.pid}`);
    await expectProgress(target);
  });

  it("leaves a group-stopped (SIGSTOP) target stopped, even after an injection and queries", async () => {
    const target = await startTarget("worker", ["spin"]);
    process.kill(target.pid, "SIGSTOP");
    await sleep(50);
    const tids = freeze(target.pid);
    expect(injectSyscall(tids[0]!, 39)).toBe(BigInt(target.pid)); // getpid runs despite the group stop
    expect(injectQueries(tids[0]!, [{ nr: 39, args: [] }])[0]!.result).toBe(BigInt(target.pid)); // and as a query
    thaw(tids);
    await sleep(100);
    expect(procStatus(target.pid, "State")).toMatch(/^T \(stopped\)/);
    const lines = target.lines.length;
    await sleep(100);
    expect(target.lines.length).toBe(lines);
    process.kill(target.pid, "SIGCONT");
    await expectProgress(target);
  });

  it("reports a zombie as ESRCH", async () => {
    const parent = await startTarget("worker", ["zombie"], /^zombie/);
    const zombie = Number(parent.lines.find((l) => l.startsWith("zombie"))!.split(" ")[1]);
    await sleep(50);
    expect(procStatus(zombie, "State")).toMatch(/^Z/);
    expect(() => freeze(zombie)).toThrow(expect.objectContaining({ code: "ESRCH", pid: zombie }));
  });

  it("reports a missing process as ESRCH", () => {
    expect(() => freeze(999_999_999)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  });
});

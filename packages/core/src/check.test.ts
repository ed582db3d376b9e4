import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget } from "../test-programs/targets.js";
import { checkProcess, type Problem } from "./check.js";
import { CrError } from "./errors.js";
import { readStat } from "./objects/task.js";

let bin: string;
let dir: string;
beforeAll(() => {
  bin = program("proc_target");
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-check-")));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tracerOf(pid: number): number {
  return Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

function problemOf(problems: Problem[], resource: string): Problem {
  const problem = problems.find((p) => p.resource === resource);
  if (!problem) throw new Error(`no problem about ${resource} in ${JSON.stringify(problems, null, 1)}`);
  return problem;
}

describe("checkProcess", () => {
  it("names a TCP connection, a fanotify instance and an io_uring instance, and leaves the process running", async () => {
    const target = await startTarget(bin, ["check"]);
    try {
      const report = await checkProcess(target.pid);
      expect(report).toMatchObject({ pid: target.pid, comm: "proc_target" });
      const { ready } = target;
      const socket = problemOf(report.problems, `fd ${String(ready.socket)}`);
      expect(socket.kind).toBe("tcp-connection");
      expect(socket.reason).toMatch(new RegExp(`^TCP socket 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${String(ready.port)} \\(close-wait\\): a TCP connection: cr restores established connections only`));
      const fanotify = problemOf(report.problems, `fd ${String(ready.fanotify)}`);
      expect(fanotify.kind).toBe("fanotify");
      expect(fanotify.reason).toMatch(/^fanotify: cr cannot save fanotify instances/);
      const ring = problemOf(report.problems, `fd ${String(ready.ring)}`);
      expect(ring.kind).toBe("io_uring");
      expect(ring.reason).toMatch(/^io_uring: cr cannot save io_uring instances/);
      expect(report.problems).toHaveLength(3);
      expect(readStat(target.pid).state).toMatch(/^[RS]$/);
      expect(tracerOf(target.pid)).toBe(0);
      expect(await target.ping()).toBe("pong");
    } finally {
      await target.stop();
    }
  });

  it("finds no problem in a clean process", async () => {
    const target = await startTarget(bin, ["clean"]);
    try {
      expect((await checkProcess(target.pid)).problems).toEqual([]);
      expect(await target.ping()).toBe("pong");
    } finally {
      await target.stop();
    }
  });

  it("reports a process traced by strace, naming the tracer", async () => {
    const target = await startTarget(bin, ["clean"]);
    const strace = spawn("strace", ["-o", "/dev/null", "-p", String(target.pid)], { stdio: "ignore" });
    try {
      for (let i = 0; i < 500 && tracerOf(target.pid) === 0; i++) await sleep(10);
      const problems = (await checkProcess(target.pid)).problems;
      expect(problems).toEqual([
        {
          resource: "process",
          kind: "traced",
          reason: `traced by PID ${strace.pid} (strace); a process can have only one tracer and cr needs to ptrace it: detach strace first`,
        },
      ]);
    } finally {
      strace.kill("SIGKILL");
      await new Promise((resolve) => strace.once("exit", resolve));
    }
    try {
      expect(await target.ping()).toBe("pong");
    } finally {
      await target.stop();
    }
  });

  it("reports SysV shm and io_uring, by fd and by mapping, and accepts a shared writable file mapping, a memfd and shared anonymous memory no other process maps", async () => {
    const target = await startTarget(bin, ["shared", dir]);
    try {
      const { problems } = await checkProcess(target.pid);
      const { ready } = target;
      const mapping = (hex: unknown) => problems.find((p) => p.resource.startsWith(`mapping ${hex as string}-`));
      expect(mapping(ready.anon)).toBeUndefined(); // saved: it is this process's alone
      expect(mapping(ready.file)).toBeUndefined(); // mapped again from the file at restart
      expect(mapping(ready.shm)).toMatchObject({ kind: "sysv-shm", reason: expect.stringContaining("SysV shared memory") });
      expect(mapping(ready.memfdMap)).toBeUndefined(); // saved with its content (shmem-files.ts)
      expect(problems.find((p) => p.resource === `fd ${String(ready.memfd)}`)).toBeUndefined();
      if (ready.ring !== -1) {
        expect(problemOf(problems, `fd ${String(ready.ring)}`).kind).toBe("io_uring");
        expect(problems.filter((p) => p.kind === "io_uring" && p.resource.startsWith("mapping "))).toHaveLength(1);
      }
      expect(await target.ping()).toBe("pong");
    } finally {
      await target.stop();
    }
  });

  it("checks the children of a process as members of its tree, not as problems", async () => {
    const target = await startTarget(bin, ["clean"]);
    try {
      // The wrapping shell has three children: cat, proc_target, cat (a child still shows "sh" until its exec: asked again).
      let report = await checkProcess(target.child.pid!);
      for (let i = 0; i < 100 && report.processes.filter((p) => p.comm === "sh").length > 1; i++) {
        await sleep(20);
        report = await checkProcess(target.child.pid!);
      }
      expect(report.processes.map((p) => p.comm).sort()).toEqual(["cat", "cat", "proc_target", "sh"]);
      expect(report.processes.slice(1).every((p) => p.ppid === target.child.pid)).toBe(true);
      // Node's stdio pipes are sockets (problems of their own); the children are none.
      expect(report.problems.filter((p) => p.resource.startsWith("process ") && !p.resource.includes(":"))).toEqual([]);
    } finally {
      await target.stop();
    }
  });

  it("refuses cr itself, a kernel thread and a zombie", async () => {
    expect((await checkProcess(process.pid)).problems).toEqual([expect.objectContaining({ resource: "process", kind: "self" })]);
    expect((await checkProcess(2)).problems).toEqual([expect.objectContaining({ kind: "kernel-thread" })]);
    const parent = spawn("python3", ["-c", "import os,sys\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid,flush=True)\nsys.stdin.read()"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once("data", (d: Buffer) => resolve(d.toString()))));
      for (let i = 0; i < 100 && readStat(zombie).state !== "Z"; i++) await sleep(10);
      const { problems } = await checkProcess(zombie);
      expect(problems).toEqual([
        { resource: "process", kind: "zombie", reason: `${zombie} (python3) has exited and waits for its parent ${parent.pid} to reap it: nothing left to save` },
      ]);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("fails with CrError ESRCH for a pid that does not exist", async () => {
    const pid = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim());
    const error = await checkProcess(pid).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrError);
    expect(error).toMatchObject({ code: "ESRCH", pid, message: `no process ${pid}` });
  });
});

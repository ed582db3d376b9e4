import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RLIMIT } from "@cr/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { CrError } from "../errors.js";
import { collectProcess, isKernelThread, isZombie, readLimits, readStat, type ProcessInfo } from "./task.js";

const ADDR_NO_RANDOMIZE = 0x0040000;
let bin: string;
let dir: string;
beforeAll(() => {
  bin = program("proc_target");
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-task-")));
  writeFileSync(join(dir, "data.bin"), Buffer.alloc(4 * 4096));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

describe("collectProcess on a program that set its umask, cwd, an rlimit and its personality", () => {
  let target: Target;
  let info: ProcessInfo;
  beforeAll(async () => {
    target = await startTarget(bin, ["state", dir, join(dir, "data.bin")]);
    info = collectProcess(target.pid);
  });
  afterAll(() => target.stop());

  it("reads the ids, comm, exe, cmdline and the single thread", () => {
    expect(info).toMatchObject({ pid: target.pid, ppid: target.child.pid, comm: "proc_target", exe: bin, root: "/", tracerPid: 0 });
    expect(info.state).toMatch(/^[RS]$/);
    expect(info.cmdline.toString()).toBe(`${bin}\0state\0${dir}\0${join(dir, "data.bin")}\0`);
    expect(info.threads).toEqual([target.pid]);
  });

  it("reads the umask, cwd and personality the program set", () => {
    expect(info.umask).toBe(0o027);
    expect(info.cwd).toBe(dir);
    expect(info.personality & ADDR_NO_RANDOMIZE).toBe(ADDR_NO_RANDOMIZE);
  });

  it("reads the lowered soft RLIMIT_NOFILE and the untouched hard one, unlimited as 2^64-1", () => {
    expect(info.rlimits.nofile.cur).toBe(200n);
    expect(info.rlimits.nofile.max).toBe(readLimits(process.pid).nofile.max);
    expect(info.rlimits.cpu).toEqual({ cur: RLIMIT.RLIM_INFINITY, max: RLIMIT.RLIM_INFINITY });
    expect(Object.keys(info.rlimits)).toHaveLength(16);
  });

  it("reads credentials and capabilities as this (root) test process has them", () => {
    const uid = process.getuid!();
    const gid = process.getgid!();
    expect(info.creds.uid).toEqual({ real: uid, effective: uid, saved: uid, fs: uid });
    expect(info.creds.gid).toEqual({ real: gid, effective: gid, saved: gid, fs: gid });
    const own = readFileSync("/proc/self/status", "utf8");
    const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(own)![1]}`);
    expect(info.caps.effective).toBe(capEff);
    expect(info.noNewPrivs).toBe(false);
  });

  it("reads the mm layout fields PR_SET_MM_MAP needs, and auxv ending in AT_NULL", () => {
    const { mm } = info;
    expect(mm.startCode).toBeLessThan(mm.endCode);
    expect(mm.startData).toBeLessThanOrEqual(mm.endData);
    expect(mm.argEnd - mm.argStart).toBe(BigInt(info.cmdline.length));
    expect(mm.envStart).toBeLessThan(mm.envEnd);
    expect(mm.startStack).toBeGreaterThan(mm.endData);
    expect(info.auxv.length % 16).toBe(0);
    expect(info.auxv.subarray(-16).every((b) => b === 0)).toBe(true);
  });
});

describe("process states cr cannot checkpoint", () => {
  it("recognises a kernel thread (kthreadd, pid 2)", () => {
    expect(isKernelThread(readStat(2))).toBe(true);
    expect(isKernelThread(readStat(process.pid))).toBe(false);
    expect(() => collectProcess(2)).toThrow(/kernel thread/);
  });

  it("recognises a zombie and refuses to collect it", async () => {
    const parent = spawn("python3", ["-c", "import os,sys\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid,flush=True)\nsys.stdin.read()"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once("data", (d: Buffer) => resolve(d.toString()))));
      for (let i = 0; i < 100 && !isZombie(readStat(zombie)); i++) await new Promise((r) => setTimeout(r, 10));
      expect(isZombie(readStat(zombie))).toBe(true);
      const error = (() => {
        try {
          collectProcess(zombie);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(CrError);
      expect((error as CrError).code).toBe("UNSUPPORTED");
      expect((error as CrError).message).toContain(`process ${zombie} (python3) is a zombie`);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

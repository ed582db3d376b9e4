// Process trees: children created by their restored parent (cloneStub), and zombies of it (makeZombie).
import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";

import { cloneStub, getRegs, getSigmask, injectSyscall, killTraced, makeZombie, NativeError, placeTrampolineAt, readMemory, RESTORE_STUB, scratch, SIGNALS, spawnStub, writeMemory } from "./index.js";

const SYS = { getpid: 39, wait4: 61, getppid: 110, waitid: 247 };
const WNOHANG = 1n, WEXITED = 4n, WNOWAIT = 0x01000000n, P_PID = 1n, CLD_EXITED = 1;
const TRAMPOLINE = 0x100000000000n; // clear of the stub (0x3ff000000000), its stack and vdso

/** /proc/PID/stat field `n` (1-based, as proc(5) numbers them), after the comm. */
function statField(pid: number, n: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ")[n - 3]!;
}
const state = (pid: number) => statField(pid, 3);
const ppid = (pid: number) => Number(statField(pid, 4));
const tracer = (pid: number) => Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const exitCode = (pid: number) => Number(statField(pid, 52));
/** Whether signal `sig` is in the /proc/PID/status mask `key` (ShdPnd, SigIgn). */
function hasSignal(pid: number, key: string, sig: number): boolean {
  const mask = new RegExp(`${key}:\\s*(\\w+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
  return ((BigInt("0x" + mask) >> BigInt(sig - 1)) & 1n) === 1n;
}
const sigchldPending = (pid: number) => hasSignal(pid, "ShdPnd", SIGNALS.SIGCHLD);

/** A PID nobody holds now (pid_max is small here: look from a random point). */
function freePid(): number {
  const max = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  for (let pid = 1000 + Math.floor(Math.random() * (max - 2000)); ; pid = pid + 1 < max ? pid + 1 : 1000) {
    if (!existsSync(`/proc/${pid}`)) return pid;
  }
}

/** Every process a test made, parents before children; root is cr's own child. */
let members: { pid: number; parent: number }[] = [];

function rootStub(): number {
  const pid = spawnStub({ stub: RESTORE_STUB, pid: 0, fds: [], cwd: "/" });
  members.push({ pid, parent: process.pid });
  placeTrampolineAt(pid, TRAMPOLINE);
  scratch(pid); // creates it there
  return pid;
}

function child(parent: number, wanted = 0): number {
  const pid = cloneStub(parent, wanted);
  members.push({ pid, parent });
  return pid;
}

/**
 * Deepest first: each member is killed (cr's wait as its tracer hands it to its parent as a
 * zombie), then its parent reaps it by an injected wait4; the root is cr's child, reaped by cr.
 */
function killAll(): void {
  for (const { pid, parent } of [...members].reverse()) {
    if (parent === process.pid) {
      killTraced([pid], true);
      continue;
    }
    if (existsSync(`/proc/${pid}`) && tracer(pid) === process.pid) killTraced([pid], true);
    if (existsSync(`/proc/${parent}`)) injectSyscall(parent, SYS.wait4, [BigInt(pid), 0n, WNOHANG, 0n]);
  }
  const left = members.filter(({ pid }) => existsSync(`/proc/${pid}`));
  members = [];
  expect(left).toEqual([]);
}

afterEach(() => {
  if (members.length > 0) killAll();
});

/** waitid(P_PID, pid, WEXITED|WNOWAIT|WNOHANG) in `parent`: si_code and si_status of its zombie child. */
function peekChild(parent: number, pid: number): { code: number; status: number } {
  const info = scratch(parent).address;
  writeMemory(parent, info, Buffer.alloc(128));
  expect(injectSyscall(parent, SYS.waitid, [P_PID, BigInt(pid), info, WEXITED | WNOWAIT | WNOHANG, 0n])).toBe(0n);
  const siginfo = Buffer.alloc(128);
  readMemory(parent, new BigUint64Array([info, 128n]), siginfo);
  return { code: siginfo.readInt32LE(8), status: siginfo.readInt32LE(24) }; // si_code; _sigchld's si_status
}

describe("cloneStub", () => {
  it("creates a child of the stub with the chosen PID, stopped, traced and injectable, and a grandchild of it", () => {
    const stub = rootStub();
    const regs = getRegs(stub), mask = getSigmask(stub);
    const wanted = freePid();
    const kid = child(stub, wanted);
    expect(kid).toBe(wanted);
    expect(ppid(kid)).toBe(stub);
    expect(state(kid)).toBe("t");
    expect(tracer(kid)).toBe(process.pid);
    expect(scratch(kid).address).toBe(scratch(stub).address); // the inherited trampoline, found again
    expect(injectSyscall(kid, SYS.getppid)).toBe(BigInt(stub));
    expect(injectSyscall(kid, SYS.getpid)).toBe(BigInt(kid));
    expect(getRegs(stub)).toEqual(regs);
    expect(getSigmask(stub)).toBe(mask);
    expect(injectSyscall(stub, SYS.getpid)).toBe(BigInt(stub));

    const grandchild = child(kid);
    expect(ppid(grandchild)).toBe(kid);
    expect(state(grandchild)).toBe("t");
    expect(injectSyscall(grandchild, SYS.getppid)).toBe(BigInt(kid));
    killAll();
  });

  it("refuses a PID that is taken with EEXIST, naming the PID, and the stub goes on", () => {
    const stub = rootStub();
    const kid = child(stub);
    let error: unknown;
    try {
      cloneStub(stub, kid);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NativeError);
    expect(error).toMatchObject({ code: "EEXIST", syscall: "clone3", pid: kid });
    expect((error as Error).message).toContain("the PID is taken");
    expect(injectSyscall(stub, SYS.getpid)).toBe(BigInt(stub));
    killAll();
  });
});

describe("makeZombie", () => {
  it("leaves a zombie with the exit code, unreaped, for its parent to wait for", () => {
    const stub = rootStub();
    const kid = child(stub);
    const grandchild = child(kid);
    makeZombie(grandchild, { code: 3 });
    expect(state(grandchild)).toBe("Z");
    expect(exitCode(grandchild)).toBe(3 << 8);
    expect(ppid(grandchild)).toBe(kid);
    expect(sigchldPending(kid)).toBe(false); // the hand-over's SIGCHLD is taken back
    expect(peekChild(kid, grandchild)).toEqual({ code: CLD_EXITED, status: 3 });
    expect(state(grandchild)).toBe("Z"); // WNOWAIT: still there
    killAll();
  });

  it("leaves zombies killed by a signal: SIGKILL, SIGPIPE (ignored by cr, so by the stub), SIGSEGV without a core", () => {
    const stub = rootStub();
    for (const signal of [9, 13, 11]) {
      const kid = child(stub);
      if (signal === 13) expect(hasSignal(kid, "SigIgn", signal)).toBe(true);
      makeZombie(kid, { signal });
      expect([state(kid), exitCode(kid), ppid(kid)]).toEqual(["Z", signal, stub]);
    }
    expect(sigchldPending(stub)).toBe(false);
    killAll();
  });

  it("refuses a signal that does not end a process, and a stub whose parent is cr", () => {
    const stub = rootStub();
    const kid = child(stub);
    expect(() => makeZombie(kid, { signal: SIGNALS.SIGCHLD })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => makeZombie(stub, { code: 0 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => makeZombie(kid, { code: 3, signal: 9 })).toThrow(TypeError);
    expect(state(kid)).toBe("t");
    expect(injectSyscall(kid, SYS.getppid)).toBe(BigInt(stub));
    killAll();
  });
});

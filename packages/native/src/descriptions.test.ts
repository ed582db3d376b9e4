import { closeSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createPipe, FCNTL, fileOwner, PIPE_DEFAULT_SIZE, pipeCapacity, setPipeCapacity, takeFd } from "./index.js";
import { killTargets, startTarget } from "./test-support/programs.js";

afterAll(() => killTargets());

/** Runs `read` on cr's own copy of fd `fd` of `pid`. */
function through<T>(pid: number, fd: number, read: (own: number) => T): T {
  const own = takeFd(pid, fd);
  try {
    return read(own);
  } finally {
    closeSync(own);
  }
}

describe("takeFd, fileOwner and pipeCapacity", () => {
  it("read another process's open file descriptions: owner, signal, capacity; EBADF for an fd it does not have", async () => {
    const target = await startTarget("owner");
    const [pgrp, read, write] = target.lines[0]!.split(" ").slice(1).map(Number) as [number, number, number];
    expect(through(target.pid, read, fileOwner)).toEqual({ type: FCNTL.F_OWNER_PGRP, pid: pgrp, signal: 40, uid: process.getuid!(), euid: process.geteuid!() });
    expect(through(target.pid, write, pipeCapacity)).toBe(128 * 1024);
    expect(() => takeFd(target.pid, 99)).toThrow(expect.objectContaining({ code: "EBADF", syscall: "pidfd_getfd" }));
  });

  it("a new pipe has the default capacity and no owner; a set capacity is rounded up to a power of two of pages", () => {
    const [read, write] = createPipe();
    try {
      expect(pipeCapacity(read)).toBe(PIPE_DEFAULT_SIZE);
      expect(fileOwner(read)).toEqual({ type: 0, pid: 0, signal: 0, uid: 0, euid: 0 });
      expect(setPipeCapacity(write, 3 * 4096)).toBe(4 * 4096);
      expect(pipeCapacity(read)).toBe(4 * 4096);
    } finally {
      closeSync(read);
      closeSync(write);
    }
  });
});

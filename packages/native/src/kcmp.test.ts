import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sameMemory, sameOpenFile } from "./index.js";

describe("sameOpenFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "cr-kcmp-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is true for dups of one open file, false for two opens of one file, EBADF for a closed fd", async () => {
    const path = join(dir, "f");
    const once = openSync(path, "w");
    const again = openSync(path, "a");
    const child = spawn("sleep", ["10"], { stdio: ["ignore", once, once, again] });
    closeSync(once);
    closeSync(again);
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      expect(sameOpenFile(child.pid!, 1, 2)).toBe(true);
      expect(sameOpenFile(child.pid!, 1, 3)).toBe(false);
      expect(() => sameOpenFile(child.pid!, 1, 99)).toThrow(expect.objectContaining({ code: "EBADF", syscall: "kcmp" }));
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("sameMemory", () => {
  it("is true for two threads of one process, false for a child after its exec", async () => {
    const thread = readdirSync("/proc/self/task").map(Number).find((tid) => tid !== process.pid)!;
    expect(sameMemory(process.pid, thread)).toBe(true);
    const child = spawn("sleep", ["10"], { stdio: "ignore" });
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      expect(sameMemory(process.pid, child.pid!)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

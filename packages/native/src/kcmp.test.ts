import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
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
      const fd = (n: number) => ({ pid: child.pid!, fd: n });
      expect(sameOpenFile(fd(1), fd(2))).toBe(true);
      expect(sameOpenFile(fd(1), fd(3))).toBe(false);
      expect(() => sameOpenFile(fd(1), fd(99))).toThrow(expect.objectContaining({ code: "EBADF", syscall: "kcmp" }));
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("is true across processes for a descriptor inherited by fork, false for the same file opened again", async () => {
    const path = join(dir, "g");
    const [out, again] = [openSync(path, "w"), openSync(path, "w")];
    const other = spawn("sleep", ["10"], { stdio: ["ignore", again, "ignore"] });
    const parent = spawn("sh", ["-c", "sleep 10 & wait"], { stdio: ["ignore", out, "ignore"] });
    closeSync(out);
    closeSync(again);
    try {
      await new Promise((resolve) => parent.once("spawn", resolve));
      const child = await childOf(parent.pid!);
      expect(sameOpenFile({ pid: parent.pid!, fd: 1 }, { pid: child, fd: 1 })).toBe(true);
      expect(sameOpenFile({ pid: parent.pid!, fd: 1 }, { pid: other.pid!, fd: 1 })).toBe(false);
    } finally {
      parent.kill("SIGKILL");
      other.kill("SIGKILL");
    }
  });
});

/** The first child of `pid`, once it has one. */
async function childOf(pid: number): Promise<number> {
  for (;;) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    if (children) return Number(children.split(" ")[0]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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

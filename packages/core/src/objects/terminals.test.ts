import { afterEach, describe, expect, it } from "vitest";
import { FileKind, type FdRecord } from "@cr/format";
import { collectFiles } from "./files.js";
import { killHolders, pythonHolder, RAW_PAIR } from "./python.test-util.js";
import { readStat } from "./task.js";
import { checkTerminals, collectTerminals, onShellTerminal } from "./terminals.js";

afterEach(killHolders);

/** python3 holding a pseudo-terminal pair, its slave in raw mode at 40x120; the slave's fd and path. */
async function ptyHolder(): Promise<{ pid: number; fd: number; path: string }> {
  const { child, fds } = await pythonHolder(RAW_PAIR);
  return { pid: child.pid!, fd: fds.slave!, path: `/dev/pts/${fds.index}` };
}

describe("terminals", () => {
  it("are saved with the settings the program gave them: raw mode, window size; one held but not controlling is not the shell job's", async () => {
    const { pid, fd, path } = await ptyHolder();
    const [saved, ...more] = collectTerminals(pid, collectFiles(pid), readStat(pid));
    expect(more).toEqual([]);
    expect(saved).toMatchObject({ path, controlling: 0, foregroundPgrp: -1 });
    const termios = Buffer.from(saved!.termios);
    const ICANON = 0o2, ECHO = 0o10;
    expect(termios.readUInt32LE(12) & (ICANON | ECHO), "c_lflag: raw").toBe(0);
    const winsize = Buffer.from(saved!.winsize);
    expect([winsize.readUInt16LE(0), winsize.readUInt16LE(2)]).toEqual([40, 120]);
    expect(collectFiles(pid).find((f) => f.fd === fd)?.kind).toBe("tty");
    expect(() => checkTerminals(pid, "python3", [saved!], 7n, () => false)).not.toThrow();
  });

  it("a controlling terminal refuses a restart without --shell-job, and with it moves every descriptor on it to cr's terminal", () => {
    const terminal = { path: "/dev/pts/9", rdev: 0x8809n, controlling: 1, foregroundPgrp: 42, termios: new Uint8Array(44), winsize: new Uint8Array(8) };
    expect(() => checkTerminals(42, "less", [terminal], 7n, () => false)).toThrow(/^process 42 \(less\) of checkpoint 7 ran on the terminal \/dev\/pts\/9, its controlling terminal: restart it in a terminal with --shell-job/);
    const fd = (n: number, path: string) => ({ fd: n, kind: FileKind.DEVICE, path }) as FdRecord;
    const moved = onShellTerminal([fd(0, "/dev/pts/9"), fd(3, "/dev/tty"), fd(4, "/dev/pts/2")], [terminal], "/dev/pts/1", () => false);
    expect(() => checkTerminals(42, "script", [terminal], 7n, (path) => path === "/dev/pts/9"), "a pair the tree made is its own").not.toThrow();
    expect(moved.map((f) => f.path)).toEqual(["/dev/pts/1", "/dev/tty", "/dev/pts/2"]);
  });
});

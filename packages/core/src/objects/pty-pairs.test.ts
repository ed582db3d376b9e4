import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, constants as fsc } from "node:fs";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { FileKind, type FdRecord } from "@cr/format";
import { terminalSettings } from "@cr/native";
import { collectFiles } from "./files.js";
import { readStat } from "./task.js";
import { collectPtyMasters, TreePtys } from "./pty-pairs.js";
import { collectTerminals } from "./terminals.js";

const running: ChildProcess[] = [];
afterEach(() => running.splice(0).forEach((c) => c.kill("SIGKILL")));

/** python3 holding both ends of a pseudo-terminal pair, its slave raw at 40x120. */
async function pairHolder(): Promise<{ pid: number; master: number; slave: string }> {
  const script = [
    "import os, pty, tty, fcntl, termios, struct, json, sys",
    "m, s = pty.openpty()",
    "tty.setraw(s)",
    "fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))",
    "print(json.dumps({'master': m, 'slave': os.ttyname(s)}), flush=True)",
    "sys.stdin.read()",
  ].join("\n");
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  running.push(child);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
  return { pid: child.pid!, ...(JSON.parse(line) as { master: number; slave: string }) };
}

describe("pseudo-terminal pairs", () => {
  it("are saved by their pair's number, and made again under a new one with the slave's settings; descriptors on the slave follow", async () => {
    const { pid, master, slave } = await pairHolder();
    const files = collectFiles(pid);
    expect(files.find((f) => f.fd === master)?.kind).toBe("pty-master");
    const masters = collectPtyMasters(pid, files, []);
    expect(masters).toEqual([{ fd: master, index: Number(slave.split("/").pop()) }]);
    const terminals = collectTerminals(pid, files, readStat(pid));
    const ptys = new TreePtys([{ files: [], terminals, ptyMasters: masters }]);
    try {
      const newSlave = ptys.slaveOf(slave)!;
      expect(newSlave).toMatch(/^\/dev\/pts\/\d+$/);
      expect(newSlave).not.toBe(slave); // the old pair still exists: the new one has another number
      const [moved] = ptys.onNewSlaves([{ fd: 0, kind: FileKind.DEVICE, path: slave } as FdRecord]);
      expect(moved!.path).toBe(newSlave);
      const fd = openSync(newSlave, fsc.O_RDWR | fsc.O_NOCTTY);
      try {
        const now = terminalSettings(fd);
        const ICANON = 0o2;
        expect(now.termios.readUInt32LE(12) & ICANON, "raw as saved").toBe(0);
        expect([now.winsize.readUInt16LE(0), now.winsize.readUInt16LE(2)]).toEqual([40, 120]);
      } finally {
        closeSync(fd);
      }
      expect(ptys.owns(ptys.masterOf(masters[0]!.index))).toBe(true);
    } finally {
      ptys.close();
    }
  });
});

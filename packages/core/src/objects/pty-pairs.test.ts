import { closeSync, openSync, constants as fsc } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { FileKind, type FdRecord } from "@cr/format";
import { terminalSettings } from "@cr/native";
import { collectFiles } from "./files.js";
import { readStat } from "./task.js";
import { collectPtyMasters, TreePtys } from "./pty-pairs.js";
import { killHolders, pythonHolder, RAW_PAIR } from "./python.test-util.js";
import { collectTerminals } from "./terminals.js";

afterEach(killHolders);

/** python3 holding both ends of a pseudo-terminal pair, its slave raw at 40x120. */
async function pairHolder(): Promise<{ pid: number; master: number; slave: string }> {
  const { child, fds } = await pythonHolder(RAW_PAIR);
  return { pid: child.pid!, master: fds.master!, slave: `/dev/pts/${fds.index}` };
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

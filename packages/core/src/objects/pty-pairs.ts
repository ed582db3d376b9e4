/**
 * Pseudo-terminal pairs the tree made itself (script, expect, tmux, a terminal emulator): the
 * master /dev/ptmx in one process, the slave /dev/pts/N in others, often the controlling terminal
 * of a session the tree has (a shell the program started with setsid).
 *
 * Checkpoint half: each master's pair number (fdinfo tty-index) goes in PTY_MASTERS; the slave's
 * settings (termios, window size) and who has it as controlling terminal, with its foreground
 * group, are the TERMINALS records of the processes that hold it (terminals.ts). Bytes waiting in
 * the pair (written on one side, not read on the other) are not saved: the snapshot says so.
 *
 * Restart half (TreePtys): each pair is made again in cr before anything is opened, under a new
 * number: the descriptors on its slave are opened on /dev/pts/NEW instead, its masters are cr's
 * master, and the slave gets the saved settings. Once a session leader of the tree holds its
 * descriptors, an injected TIOCSCTTY makes the slave its controlling terminal again, and
 * TIOCSPGRP gives the terminal its foreground group back.
 */
import { closeSync, openSync, constants as fsc } from "node:fs";
import type { FdRecord, PtyMastersRecord } from "@cr/format";
import { openPtyPair, queuedBytes, setTermios, setWinsize, TTY } from "@cr/native";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { readProcText } from "../process/procfs.js";
import { throughCopy, type FdEntry } from "./files.js";
import { readStat } from "./task.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";
import type { SavedTerminal } from "./terminals.js";

export type SavedPtyMaster = PtyMastersRecord["masters"][number];

const slavePath = (index: number) => `/dev/pts/${index}`;

// ================================================================ checkpoint half

/** Each pseudo-terminal master of `files`, once per open file description, with its pair's number. */
export function collectPtyMasters(pid: number, files: FdEntry[], shared: SharedFd[]): SavedPtyMaster[] {
  return firstOfEachDescription(files, shared, "pty-master").map((f) => {
    const index = /^tty-index:\s*(\d+)$/m.exec(readProcText(pid, `fdinfo/${f.fd}`))?.[1];
    if (index === undefined) throw new CrError(`fdinfo of pseudo-terminal master ${f.fd} of process ${pid} has no tty-index`, { code: "EPROTO", pid, fd: f.fd });
    return { fd: f.fd, index: Number(index) };
  });
}

/** What the pairs' buffers hold, which a restart does not give back. */
export function ptyWarnings(pid: number, masters: SavedPtyMaster[]): string[] {
  return masters.flatMap((m) => {
    const bytes = throughCopy(pid, m.fd, queuedBytes) ?? 0;
    return bytes > 0 ? [`${slavePath(m.index)}: the ${bytes} bytes written to it and not read yet by its master (fd ${m.fd} of process ${pid}) are not restored`] : [];
  });
}

// ================================================================ restart half

/** A process of the image as TreePtys reads it. */
export interface PtyHolder {
  files: FdRecord[];
  terminals: SavedTerminal[];
  ptyMasters: SavedPtyMaster[];
}

/** The tree's pseudo-terminal pairs, made again in cr under new numbers, held until the processes have them. */
export class TreePtys {
  /** Saved pair number -> cr's new master and its pair's number. */
  private readonly made = new Map<number, { master: number; index: number }>();

  /** The pair a terminal from outside the tree was put on (adopt), by its old path. */
  private readonly adopted = new Map<string, { master: number; index: number }>();

  constructor(holders: PtyHolder[]) {
    try {
      for (const m of holders.flatMap((h) => h.ptyMasters)) if (!this.made.has(m.index)) this.made.set(m.index, openPtyPair(0));
      for (const [old, pair] of this.made) this.configure(pair.index, holders.flatMap((h) => h.terminals).find((t) => t.path === slavePath(old)));
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Puts the terminal `saved` of outside the tree (gone with its window, most often) on a new
   * pair of cr's, with its settings: `cr restart --detach` of a program that ran on a terminal.
   * The master goes to the terminal holder (detachedMaster).
   */
  adopt(saved: SavedTerminal): void {
    const pair = openPtyPair(0);
    this.adopted.set(saved.path, pair);
    this.configure(pair.index, saved);
  }

  /** The master of the adopted terminal, for the terminal holder; undefined when none was adopted. */
  detachedMaster(): number | undefined {
    return [...this.adopted.values()][0]?.master;
  }

  /** `files` with every descriptor on a slave of the tree's pairs opened on the new slave. */
  onNewSlaves(files: FdRecord[]): FdRecord[] {
    return files.map((f) => {
      const path = this.slaveOf(f.path);
      return path ? { ...f, path } : f;
    });
  }

  /** cr's master of the saved pair `index`. */
  masterOf(index: number): number {
    const pair = this.made.get(index);
    if (!pair) throw new CrError(`the image has a pseudo-terminal master of /dev/pts/${index} that no PTY_MASTERS record names`, { code: "BAD_IMAGE", step: "open files" });
    return pair.master;
  }

  /** The new path of the saved slave `path` of a pair the tree made; undefined for any other terminal. */
  slaveOf(path: string): string | undefined {
    const pair = [...this.made].find(([old]) => path === slavePath(old))?.[1] ?? this.adopted.get(path);
    return pair && slavePath(pair.index);
  }

  owns(fd: number): boolean {
    return [...this.made.values()].some((p) => p.master === fd);
  }

  close(): void {
    for (const { master } of [...this.made.values(), ...this.adopted.values()]) closeSync(master);
    this.made.clear();
    this.adopted.clear();
  }

  /** The slave's settings as the program left them (none saved: no process of the tree held the slave). */
  private configure(index: number, saved: SavedTerminal | undefined): void {
    if (!saved) return;
    const slave = openSync(slavePath(index), fsc.O_RDWR | fsc.O_NOCTTY);
    try {
      setTermios(slave, Buffer.from(saved.termios));
      setWinsize(slave, Buffer.from(saved.winsize));
    } finally {
      closeSync(slave);
    }
  }
}

/**
 * A session leader whose controlling terminal was a slave of the tree's pairs gets it back
 * (TIOCSCTTY through one of its descriptors on it, now /dev/pts/NEW), with the saved foreground
 * group (TIOCSPGRP: every process of the tree exists by now). Signals are blocked in the process
 * while it is rebuilt, so SIGTTOU does not stop it.
 */
export function restoreControllingTerminal(remote: Remote, terminals: SavedTerminal[], files: FdRecord[], ptys: TreePtys): void {
  const ctty = terminals.find((t) => t.controlling);
  const path = ctty && ptys.slaveOf(ctty.path);
  if (!ctty || !path || readStat(remote.pid).session !== remote.pid) return; // a session leader, as made by now
  const fd = files.find((f) => f.path === path); // opened on the new slave by now
  if (!fd) throw new CrError(`process ${remote.pid} had ${ctty.path} as its controlling terminal but no descriptor on it: cr cannot make it its controlling terminal again`, { code: "UNSUPPORTED", pid: remote.pid });
  remote.call("ioctl", [BigInt(fd.fd), BigInt(TTY.TIOCSCTTY), 0n], `making ${fd.path} the controlling terminal of process ${remote.pid} again`);
  if (ctty.foregroundPgrp <= 0) return;
  const pgrp = Buffer.alloc(4);
  pgrp.writeInt32LE(ctty.foregroundPgrp);
  remote.call("ioctl", [BigInt(fd.fd), BigInt(TTY.TIOCSPGRP), remote.put(pgrp)], `giving ${fd.path} its foreground group ${ctty.foregroundPgrp} again`);
}

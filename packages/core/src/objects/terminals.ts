/**
 * Terminals a process runs on: its controlling terminal (a pseudo-terminal of a terminal
 * emulator, tmux, ssh) and any other terminal it holds a descriptor on.
 *
 * Checkpoint half: collectTerminals notes each terminal once, with the settings the program gave
 * it (termios: raw mode, echo ...; the window size), read through cr's own descriptor on it, and
 * whether it is the process's controlling terminal (/proc/PID/stat tty_nr) and the process's
 * group its foreground group (tpgid). The TERMINALS record holds them.
 *
 * Restart half, as CRIU's --shell-job: the terminal a program ran on is usually gone with the
 * window it was in, and a terminal is tied to the session whose controlling terminal it is. So
 * `cr restart --shell-job` runs the program as a job of the shell cr runs in: every descriptor on
 * its controlling terminal is opened on cr's terminal instead (onShellTerminal), the root stays in
 * cr's session (that terminal is its controlling terminal then) in a group of its own; just
 * before the release the terminal gets the program's settings and, when the program was in the
 * foreground, the program's group as foreground group (ShellJob.attach); after it, SIGWINCH makes
 * the program look at the window again and redraw. When the job ends, cr gives the terminal back
 * its own settings and takes the foreground (ShellJob.detach), as a shell does. Without
 * --shell-job such a process is refused at restart, in one line, before anything is made.
 */
import { readlinkSync } from "node:fs";
import { isatty } from "node:tty";
import type { FdRecord, TerminalsRecord } from "@cr/format";
import { setForeground, setTermios, terminalSettings } from "@cr/native";
import { CrError } from "../errors.js";
import { readStat, type ProcStat } from "./task.js";
import { throughCopy, type FdEntry } from "./files.js";

export type SavedTerminal = TerminalsRecord["terminals"][number];

/** /dev/tty opens whatever the opener's controlling terminal is: it names no terminal of its own. */
const CTTY_ALIAS = "/dev/tty";

// ================================================================ checkpoint half

/** Each terminal `files` holds, once, with its settings and its relation to the process. */
export function collectTerminals(pid: number, files: FdEntry[], stat: Pick<ProcStat, "ttyNr" | "tpgid" | "pgrp">): SavedTerminal[] {
  const firsts = new Map<bigint, FdEntry>();
  for (const f of files) if (f.kind === "tty" && f.path !== CTTY_ALIAS && !firsts.has(f.rdev)) firsts.set(f.rdev, f);
  return [...firsts.values()].flatMap((f) => {
    const settings = throughCopy(pid, f.fd, terminalSettings);
    if (!settings) return []; // closed meanwhile (the process runs during cr check)
    const controlling = f.rdev === stat.ttyNr;
    return [{ path: f.path!, rdev: f.rdev, controlling: controlling ? 1 : 0, foregroundPgrp: controlling ? stat.tpgid : -1, termios: new Uint8Array(settings.termios), winsize: new Uint8Array(settings.winsize) }];
  });
}

/**
 * What `cr check` says of each terminal a process holds: what a restart does with it. A
 * controlling terminal of a session the tree has is a pseudo-terminal the tree made (pty-pairs.ts).
 */
export function terminalNotes(pid: number, files: FdEntry[], stat: ProcStat, members: ReadonlySet<number>): { resource: string; note: string }[] {
  return collectTerminals(pid, files, stat).map((t) => ({
    resource: files.filter((f) => f.rdev === t.rdev).map((f) => `fd ${f.fd}`).join(", "),
    note: !t.controlling
      ? `${t.path}: opened again by its path at restart (it must still exist), or made again with its pair if its master is in the tree`
      : members.has(stat.session)
        ? `${t.path}, the controlling terminal of a session of the tree: made again with its pair (its master must be in the tree), with its settings and foreground group`
        : `${t.path}, its controlling terminal: cr restart --shell-job runs it on the terminal cr restart runs in, ${t.foregroundPgrp === stat.pgrp ? "in the foreground" : "in the background"}, with the settings it gave ${t.path}`,
  }));
}

// ================================================================ restart half

/** The terminal `cr restart --shell-job` runs in: its standard input's. */
export function shellTerminal(): string {
  if (!isatty(0)) throw new CrError("--shell-job runs the program on the terminal cr restart runs in, and cr's standard input is not a terminal", { code: "ENOTTY" });
  return readlinkSync("/proc/self/fd/0");
}

/**
 * `files` with every descriptor on the process's controlling terminal opened on `terminal`
 * instead; `madeAgain`: a terminal of a pair the tree made, which stays the process's.
 */
export function onShellTerminal(files: FdRecord[], terminals: SavedTerminal[], terminal: string, madeAgain: (path: string) => boolean): FdRecord[] {
  const controlling = terminals.find((t) => t.controlling && !madeAgain(t.path))?.path;
  return files.map((f) => (controlling !== undefined && f.path === controlling ? { ...f, path: terminal } : f));
}

/** A process that ran on its controlling terminal needs one: refused without --shell-job (but on a pair the tree made). */
export function checkTerminals(pid: number, comm: string, terminals: SavedTerminal[], crid: bigint, madeAgain: (path: string) => boolean): void {
  const controlling = terminals.find((t) => t.controlling && !madeAgain(t.path));
  if (!controlling) return;
  throw new CrError(`process ${pid} (${comm}) of checkpoint ${crid} ran on the terminal ${controlling.path}, its controlling terminal: restart it in a terminal with --shell-job, which runs it there as a job of your shell, or with --detach, which puts it on a new terminal (cr attach PID)`, { code: "SHELL_JOB_NEEDED", pid, crid, step: "check files" });
}

/** cr's terminal lent to the restarted program, as a shell lends it to a job. */
export class ShellJob {
  private readonly own = terminalSettings(0).termios;

  /** Gives the terminal the program's settings, and its group (`pgrp`, saved as `savedPgrp`) the foreground if it had it. */
  attach(pgrp: number, savedPgrp: number, saved: SavedTerminal): void {
    setTermios(0, Buffer.from(saved.termios));
    if (saved.foregroundPgrp === savedPgrp) setForeground(0, pgrp);
  }

  /** The window may differ from the one the program drew for: it looks again and redraws. */
  wake(pgrp: number): void {
    process.kill(-pgrp, "SIGWINCH");
  }

  /** The job ended: cr's own settings and group again. */
  detach(): void {
    setForeground(0, readStat(process.pid).pgrp);
    setTermios(0, this.own);
  }
}

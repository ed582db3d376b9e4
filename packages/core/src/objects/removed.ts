/**
 * Directories and FIFOs removed while the process holds them (a descriptor, or its working
 * directory). Nothing of them is lost: a removed directory is empty, a FIFO's bytes are saved
 * like a pipe's (pipes.ts). So a restart recreates each at the path it had, with its mode and
 * owner, opens it (cr keeps that descriptor: the process's descriptors are opened through it,
 * its working directory is entered through it), and removes it again before the process runs.
 * The process then holds a removed directory or FIFO at the same path, as before (another inode).
 */
import { closeSync, chownSync, chmodSync, lstatSync, mkdirSync, openSync, rmdirSync, unlinkSync, constants as fsc } from "node:fs";
import { dirname } from "node:path";
import type { FdRecord, RemovedFilesRecord } from "@cr/format";
import { mkfifo, STAT } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";
import type { FdEntry } from "./files.js";
import { removedCwd } from "./files.js";
import { statProc } from "../process/procfs.js";

export type RemovedFiles = RemovedFilesRecord["files"];

const { S_IFMT, S_IFDIR, S_IALLUGO } = STAT;

/** Checkpoint half: every removed directory or FIFO the process holds, once per inode. */
export function collectRemoved(pid: number, files: FdEntry[]): RemovedFiles {
  const out = new Map<string, RemovedFiles[number]>();
  const add = (rel: string, path: string, cwd: boolean) => {
    const st = statProc(pid, rel);
    const key = `${st.dev}:${st.ino}`;
    const known = out.get(key);
    if (known) known.cwd ||= cwd ? 1 : 0;
    else out.set(key, { device: st.dev, inode: st.ino, path, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), cwd: cwd ? 1 : 0 });
  };
  const cwd = removedCwd(pid);
  if (cwd !== undefined) add("cwd", cwd, true);
  for (const f of files) if (f.removed) add(`fd/${f.fd}`, f.path!, false);
  return [...out.values()];
}

/** Restart half: the removed objects of an image, recreated and held open by cr. */
export class Recreated {
  private readonly held = new Map<string, number>();
  private readonly created: { path: string; dir: boolean }[] = [];
  private cwdFd: number | undefined;

  constructor(files: RemovedFiles, crid: bigint) {
    try {
      for (const file of files) this.recreate(file, crid);
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** What to open for `fd` instead of its saved path, when it was on a removed object. */
  pathFor(fd: Pick<FdRecord, "device" | "inode">): string | undefined {
    const held = this.held.get(`${fd.device}:${fd.inode}`);
    return held === undefined ? undefined : `/proc/${process.pid}/fd/${held}`;
  }

  /** The working directory to enter instead of the saved one, when that was removed. */
  get cwd(): string | undefined {
    return this.cwdFd === undefined ? undefined : `/proc/${process.pid}/fd/${this.cwdFd}`;
  }

  /** Removes the recreated paths again (the process holds what it opened). Idempotent. */
  remove(): void {
    for (const { path, dir } of this.created.splice(0)) {
      try {
        if (dir) rmdirSync(path);
        else unlinkSync(path);
      } catch (error) {
        throw new CrError(`cannot remove ${path} again after recreating it: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
      }
    }
  }

  /** Removes the recreated paths and closes cr's descriptors on them. */
  release(): void {
    try {
      this.remove();
    } finally {
      this.held.forEach((f) => closeSync(f));
      this.held.clear();
    }
  }

  private recreate(file: RemovedFiles[number], crid: bigint): void {
    const dir = (file.mode & S_IFMT) === S_IFDIR;
    const what = dir ? "directory" : "FIFO";
    if (pathExists(file.path)) {
      throw new CrError(`removed ${what} ${file.path} of checkpoint ${crid} cannot be recreated: that path is taken now; move it away to restart`, { code: "FILE_CHANGED", crid, path: file.path, step: "check files" });
    }
    try {
      if (dir) mkdirSync(file.path, { mode: 0o700 });
      else mkfifo(file.path, 0o600);
      this.created.push({ path: file.path, dir });
      chownSync(file.path, file.uid, file.gid);
      chmodSync(file.path, file.mode & S_IALLUGO);
      const held = openSync(file.path, dir ? fsc.O_RDONLY | fsc.O_DIRECTORY : fsc.O_RDWR);
      this.held.set(`${file.device}:${file.inode}`, held);
      if (file.cwd) this.cwdFd = held;
    } catch (error) {
      const gone = errnoCode(error) === "ENOENT" ? ` (its parent ${dirname(file.path)} is gone)` : "";
      throw new CrError(`cannot recreate removed ${what} ${file.path} of checkpoint ${crid}${gone}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", crid, path: file.path, step: "check files", cause: error });
    }
  }
}

/** Whether anything (a symlink included) is at `path`. */
export function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

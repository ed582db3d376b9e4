/**
 * The content of files a process tree is writing: its own work in progress.
 *
 * Files are state outside the tree, and a restart refuses one that changed since the checkpoint
 * (files-restore.ts). But a file the tree itself wrote since its root started and still holds
 * open (a compiler's temporary assembly file, an object file being written, a scratch file) is
 * the tree's own doing: by the time of a restart from the middle of a history the tree may have
 * written on, renamed or removed it. So such a file, if small, is saved whole with the image.
 *
 * Checkpoint half: every regular file open in the tree whose mtime is after the root's start,
 * up to FILE_LIMIT bytes each and IMAGE_LIMIT per image, read through /proc/PID/fd/N (the tree
 * is frozen), once per inode.
 *
 * Restart half: only where the changed-file policy would refuse the restart (files-restore.ts
 * checkFiles: a file gone, replaced or changed; an output that only grew is still cut back) is
 * the saved content used instead: a file that is gone is created again at its path with its
 * content before the descriptors are opened (and removed again if the restart fails); one that
 * is there gets its saved content back as the last step before the tree runs, so a failed
 * restart leaves it as it was.
 */
import { closeSync, constants as fsc, ftruncateSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";
import type { FileContentsRecord } from "@cr/format";
import { O_PATH, OPEN, PROC_TIME, takeFd } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";
import { procPath } from "../process/procfs.js";
import { pathExists } from "./removed.js";
import type { FdEntry } from "./files.js";

export type SavedFiles = FileContentsRecord["files"];

/** A work file, not a data set: larger files are left to the changed-file policy. */
const FILE_LIMIT = 8 << 20;
const IMAGE_LIMIT = 32 << 20;

// ================================================================ checkpoint half

/** What the tree's processes saved so far in one image: the inodes, and the bytes left. */
export class FileBudget {
  readonly seen = new Set<string>();
  left = IMAGE_LIMIT;
  /** Files whose mtime is after this (ns since the epoch) are the tree's own. */
  readonly sinceNs: bigint;

  /** `startTime`: the tree root's (/proc/PID/stat field 22, ticks since boot). */
  constructor(startTime: bigint) {
    this.sinceNs = bootTimeNs() + (startTime * 1_000_000_000n) / BigInt(PROC_TIME.USER_HZ);
  }
}

function bootTimeNs(): bigint {
  const line = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  if (!line) throw new CrError("/proc/stat has no btime line", { code: "EPROTO", path: "/proc/stat" });
  return BigInt(line[1]!) * 1_000_000_000n;
}

/**
 * The files of `pid` (frozen) that are the tree's own work (see above), read whole. A file with a
 * lease is left out: an open of it by cr would break the lease.
 */
export function collectFileContents(pid: number, files: FdEntry[], budget: FileBudget): SavedFiles {
  const saved: SavedFiles = [];
  const leased = new Set(files.filter((f) => f.locks.some((l) => l.kind === "LEASE")).map((f) => `${f.dev}:${f.ino}`));
  for (const f of files) {
    const key = `${f.dev}:${f.ino}`;
    if (f.kind !== "regular" || f.mtimeNs < budget.sinceNs || f.size > FILE_LIMIT || Number(f.size) > budget.left || budget.seen.has(key) || leased.has(key)) continue;
    const bytes = readWhole(pid, f);
    budget.seen.add(key);
    budget.left -= bytes.length;
    saved.push({ device: f.dev, inode: f.ino, path: f.path!, mode: f.mode & 0o7777, mtimeNs: f.mtimeNs, bytes });
  }
  return saved;
}

/** A file's bytes: through the process's own open file description where it reads (pidfd_getfd: no new open), else a new open. */
function readWhole(pid: number, f: FdEntry): Buffer {
  if ((f.openFlags & OPEN.O_ACCMODE) === OPEN.O_WRONLY || f.openFlags & O_PATH) return readFileSync(procPath(pid, `fd/${f.fd}`));
  const fd = takeFd(pid, f.fd);
  try {
    const bytes = Buffer.alloc(Number(f.size));
    let done = 0;
    for (let n = 1; done < bytes.length && n > 0; done += n) n = readSync(fd, bytes, done, bytes.length - done, done);
    return bytes.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

// ================================================================ restart half

/** The saved files of an image: those gone are made again now; the others get their content back by restore(). */
export class SavedContents {
  private readonly byInode = new Map<string, SavedFiles[number]>();
  private readonly created: string[] = [];

  constructor(files: SavedFiles, crid: bigint) {
    for (const f of files) this.byInode.set(`${f.device}:${f.inode}`, f);
    try {
      for (const f of this.byInode.values()) if (!pathExists(f.path)) this.create(f, crid);
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /**
   * Puts the saved content back into each saved file that differs from it now, through its
   * path (the descriptors opened on it see the same file). Returns what was done, for the user.
   */
  restore(crid: bigint): string[] {
    this.created.splice(0); // kept from now on: the tree holds them
    const warnings: string[] = [];
    for (const f of this.byInode.values()) {
      if (sameContent(f)) continue;
      rewrite(f, crid);
      warnings.push(`${f.path} was changed since the checkpoint: its ${f.bytes.length} saved bytes put back (the tree had written it)`);
    }
    return warnings;
  }

  /** Removes the files made again, if the restart failed before restore(). Idempotent. */
  release(): void {
    for (const path of this.created.splice(0)) {
      try {
        unlinkSync(path);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error; // else: removed already
      }
    }
  }

  private create(f: SavedFiles[number], crid: bigint): void {
    const fd = openSaved(f, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, crid);
    this.created.push(f.path);
    try {
      writeSync(fd, f.bytes);
    } finally {
      closeSync(fd);
    }
  }
}

function sameContent(f: SavedFiles[number]): boolean {
  try {
    return statSync(f.path).size === f.bytes.length && readFileSync(f.path).equals(f.bytes);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

function rewrite(f: SavedFiles[number], crid: bigint): void {
  const fd = openSaved(f, fsc.O_WRONLY | fsc.O_CREAT, crid);
  try {
    writeSync(fd, f.bytes, 0, f.bytes.length, 0);
    ftruncateSync(fd, f.bytes.length);
  } finally {
    closeSync(fd);
  }
}

function openSaved(f: SavedFiles[number], flags: number, crid: bigint): number {
  try {
    return openSync(f.path, flags | fsc.O_NOFOLLOW, f.mode);
  } catch (error) {
    throw new CrError(`cannot put back ${f.path}, a file the tree of checkpoint ${crid} was writing: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", crid, path: f.path, cause: error });
  }
}

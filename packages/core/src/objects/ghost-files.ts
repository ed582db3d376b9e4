/**
 * Ghost files: regular files a process tree holds open or maps after they were deleted (a temp
 * file unlinked at once, an O_TMPFILE file, a library replaced by an upgrade), not on a tmpfs
 * (those are shmem-files.ts's). Nothing on disk holds them any more, so their content goes in
 * the image, as CRIU's ghost files do.
 *
 * Checkpoint half: the first process holding a file (in table order) saves it in a GHOST_FILES
 * record: its identity, the path it had, owner, mode, size, and its data (SEEK_DATA: holes cost
 * nothing), read through a new open of its /proc link (not pidfd_getfd: SEEK_DATA would move the
 * offset the process's open file description shares).
 *
 * Restart half: each file is made again in cr before any process exists, in the directory it was
 * in: an O_TMPFILE file again if it never had a name, else created at the name it had (or, when
 * another file has that name now, at a temporary one beside it) and unlinked at once, so a restart
 * that fails leaves nothing behind and never touches the file at the path. Its data, size, owner
 * and mode go in; every descriptor on it is opened through cr's, and cr's is parked in the root
 * stub for every mapping of it (mapVmas), as a shmem file's is.
 */
import { accessSync, closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, openSync, unlinkSync, constants as fsc } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { FdRecord, GhostFileRecord } from "@cr/format";
import { openTmpfile, PAGE_SIZE, STAT } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError, errnoCode } from "../errors.js";
import { readProcLink } from "../process/procfs.js";
import { runEnd, totalPages, type PageRun } from "../pages.js";
import type { FdEntry } from "./files.js";
import { objectKey } from "./shmem.js";
import { dataRuns, inDirectory, isDirectory, readAt, RECORD_DATA_MAX, withOpen, writeAll, type MadeFiles } from "./shmem-files.js";
import { vmaRangeName, type Vma } from "./vmas.js";

const DELETED = " (deleted)";

// ================================================================ checkpoint half

/** A deleted file as one process holds it: through a descriptor or a mapping. */
interface Holding {
  key: string;
  /** How cr opens it in that process: fd/N or map_files/A-B. */
  rel: string;
  /** "fd N" or "mapping A-B". */
  resource: string;
  /** The path it had, without ` (deleted)`. */
  path: string;
  nlink: bigint;
}

function holdingsOf(pid: number, vmas: Vma[], files: FdEntry[]): Holding[] {
  const held = files.filter((f) => f.kind === "ghost").map((f): Holding => ({ key: objectKey({ device: f.dev, inode: f.ino }), rel: `fd/${f.fd}`, resource: `fd ${f.fd}`, path: f.path!, nlink: f.nlink }));
  const mapped = vmas.filter((v) => v.ghost).flatMap((v): Holding[] => {
    const range = vmaRangeName(v);
    const nlink = linksOf(pid, `map_files/${range}`);
    return nlink === undefined ? [] : [{ key: objectKey({ device: v.file!.dev, inode: v.inode }), rel: `map_files/${range}`, resource: `mapping ${range}`, path: v.path!, nlink }];
  });
  return [...held, ...mapped];
}

/** The links of the file a mapping shows; undefined for one unmapped since its list was read (cr check reads a running process). */
function linksOf(pid: number, rel: string): bigint | undefined {
  try {
    return withOpen(pid, rel, (fd) => fstatSync(fd, { bigint: true }).nlink);
  } catch (error) {
    if (error instanceof CrError && error.code === "ENOENT") return undefined;
    throw error;
  }
}

/** Each holding once, the first of its file. */
function firstOfEach(holdings: Holding[]): Holding[] {
  return [...new Map(holdings.map((h) => [h.key, h] as const).reverse()).values()].reverse();
}

/** The deleted files of a frozen tree, each once, found on their first holder (the members in table order). */
export class TreeGhostFiles {
  private readonly files = new Map<string, Holding & { pid: number }>();

  constructor(members: { pid: number; vmas: Vma[]; files: FdEntry[] }[]) {
    for (const { pid, vmas, files } of members) {
      for (const h of holdingsOf(pid, vmas, files)) if (!this.files.has(h.key)) this.files.set(h.key, { ...h, pid });
    }
  }

  /** The GHOST_FILES records, by the process whose section holds them (each file's first holder). */
  records(): Map<number, GhostFileRecord[]> {
    const byPid = new Map<number, GhostFileRecord[]>();
    for (const file of this.files.values()) {
      const record = withOpen(file.pid, file.rel, (fd) => recordOf(fd, file));
      byPid.set(file.pid, [...(byPid.get(file.pid) ?? []), record]);
    }
    return byPid;
  }
}

function recordOf(fd: number, file: Holding & { pid: number }): GhostFileRecord {
  const st = fstatSync(fd, { bigint: true });
  const runs = dataRuns(fd, st.size);
  if (totalPages(runs) * PAGE_SIZE > RECORD_DATA_MAX) throw new CrError(`deleted file ${file.path} (${file.resource} of process ${file.pid}): ${tooLarge(runs)}`, { code: "UNSUPPORTED", pid: file.pid, path: file.path });
  const end = (run: PageRun) => (runEnd(run) < st.size ? runEnd(run) : st.size);
  const extents = runs.map((run) => ({ offset: run.start, bytes: readAt(fd, run.start, end(run)) }));
  const tmpfile = basename(file.path) === `#${st.ino}` ? 1 : 0;
  return { device: st.dev, inode: st.ino, path: file.path, tmpfile, size: st.size, mode: Number(st.mode) & STAT.S_IALLUGO, uid: Number(st.uid), gid: Number(st.gid), extents };
}

function tooLarge(runs: PageRun[]): string {
  return `it holds ${(totalPages(runs) * PAGE_SIZE) >> 20} MiB of data, more than cr saves of a deleted file (${RECORD_DATA_MAX >> 20} MiB; holes do not count): close it, or truncate it, before the checkpoint`;
}

/**
 * What `cr check` refuses of a process's deleted files: one that still has a name somewhere (a
 * copy would no longer be shared with it), one whose directory is gone too or cannot be written
 * (a restart makes it again in its directory), one holding more data than a record carries; and
 * a deleted executable, which a restart cannot make the process's /proc/PID/exe again.
 */
export function ghostFileProblems(pid: number, vmas: Vma[], files: FdEntry[]): Problem[] {
  const problems = firstOfEach(holdingsOf(pid, vmas, files)).flatMap((h): Problem[] => {
    const why = unsaveable(pid, h);
    return why ? [{ resource: h.resource, kind: "deleted-file", reason: `deleted file ${h.path}: ${why}` }] : [];
  });
  const exe = readProcLink(pid, "exe");
  if (!exe.endsWith(DELETED)) return problems;
  const reason = `the executable ${exe.slice(0, -DELETED.length)} was deleted (replaced by an upgrade?): cr cannot make a deleted file the executable of a restarted process; restart the program from its new one first`;
  return [{ resource: "exe", kind: "deleted-file", reason }, ...problems];
}

function unsaveable(pid: number, h: Holding): string | undefined {
  if (h.nlink > 0n) return `it still has ${h.nlink} link(s) cr cannot find (linked again, or renamed over): a restarted process would hold a copy of it, no longer the file; open it by one of its names`;
  const dir = dirname(h.path);
  if (!isDirectory(dir)) return `its directory ${dir} is gone too, so a restart cannot make it again there`;
  const unwritable = writeRefusal(dir);
  if (unwritable) return `its directory ${dir} cannot be written (${unwritable}), so a restart cannot make it again there`;
  const runs = withOpen(pid, h.rel, (fd) => dataRuns(fd, fstatSync(fd, { bigint: true }).size));
  return totalPages(runs) * PAGE_SIZE > RECORD_DATA_MAX ? tooLarge(runs) : undefined;
}

/** Why cr may not create a file in `dir` (EROFS: a read-only mount), or undefined. */
function writeRefusal(dir: string): string | undefined {
  try {
    accessSync(dir, fsc.W_OK);
    return undefined;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EROFS" || code === "EACCES") return code;
    throw new CrError(`cannot tell whether ${dir} can be written: ${code ?? String(error)}`, { code: code ?? "EIO", path: dir, cause: error });
  }
}

// ================================================================ restart half

/** Every deleted file's directory must be there: a restart makes the file again in it. */
export function checkGhostFiles(files: GhostFileRecord[], crid: bigint): void {
  for (const file of files) {
    const dir = dirname(file.path);
    if (!isDirectory(dir)) throw new CrError(`deleted file ${file.path} of checkpoint ${crid} cannot be made again: its directory ${dir} is gone; recreate it to restart`, { code: "FILE_CHANGED", crid, path: file.path, step: "check files" });
  }
}

/** The deleted files of an image, made again (and deleted again at once), held by cr. */
export class RestoredGhostFiles implements MadeFiles {
  private readonly made = new Map<string, number>();

  constructor(files: GhostFileRecord[], crid: bigint) {
    try {
      for (const file of files) this.made.set(objectKey(file), make(file, crid));
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** cr's descriptor on each file, by saved key: parked in the root stub for the mappings. */
  descriptors(): Map<string, number> {
    return new Map(this.made);
  }

  /** The file holds its data already: its mappings' pages come from it. */
  filledThroughMappings(): boolean {
    return false;
  }

  /** What to open for a saved descriptor on one of the files (a new open of cr's, with the descriptor's flags). */
  pathFor(fd: Pick<FdRecord, "fd" | "device" | "inode">): string {
    const made = this.made.get(objectKey(fd));
    if (made === undefined) throw new CrError(`fd ${fd.fd} was on a deleted file handed over at the checkpoint (--inherit-fd), not saved: restart with --inherit-fd ${fd.fd}:PATH to give it a file`, { code: "INHERIT_NEEDED", fd: fd.fd, step: "open files" });
    return `/proc/${process.pid}/fd/${made}`;
  }

  /** Closes cr's descriptors: a file no process holds vanishes. */
  release(): void {
    this.made.forEach((fd) => closeSync(fd));
    this.made.clear();
  }
}

/** One file made again, deleted, its data in, its size, owner and mode set. */
function make(file: GhostFileRecord, crid: bigint): number {
  try {
    const fd = inDirectory(dirname(file.path), (dir) => (file.tmpfile ? openTmpfile(dir, 0o600) : createDeleted(file.path)));
    try {
      ftruncateSync(fd, Number(file.size));
      for (const e of file.extents) writeAll(fd, e.bytes, e.offset);
      fchownSync(fd, file.uid, file.gid); // before the mode: chown clears set-id bits
      fchmodSync(fd, file.mode);
      return fd;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  } catch (error) {
    throw new CrError(`cannot make deleted file ${file.path} of checkpoint ${crid} again: ${error instanceof Error ? error.message : String(error)}`, { code: errnoCode(error) ?? "EIO", crid, path: file.path, step: "open files", cause: error });
  }
}

/**
 * A new empty file, open read-write, created at `path` (a temporary name beside it when another
 * file has that name now: that one is left as it is) and unlinked at once.
 */
function createDeleted(path: string): number {
  const flags = fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
  let name = path;
  let fd: number;
  try {
    fd = openSync(name, flags, 0o600);
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
    name = join(dirname(path), `.${basename(path)}.cr-${process.pid}`);
    fd = openSync(name, flags, 0o600);
  }
  try {
    unlinkSync(name);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

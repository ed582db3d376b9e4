/**
 * inotify instances: a set of watches, each a file with its watch descriptor (the number read(2)
 * reports its events under) and the events watched for, and a queue of events not read yet.
 * Checkpoint half: collectInotify reads the watches from /proc/PID/fdinfo (the INOTIFY record),
 * once per open file description; fdinfo names each watched file by a file handle, which
 * open_by_handle_at on a mount of its filesystem turns back into a path. A watch whose file was
 * deleted, or that no handle finds, is refused, as `cr check` says. The queued events are lost:
 * the snapshot says so (inotifyWarnings). Restart half: makeInotify creates the instance in cr
 * with every watch under its saved number (native createInotify); the stub gets it as it gets
 * every descriptor (files-restore.ts); a dup, or another process of the tree, shares it again.
 */
import { closeSync, openSync, readlinkSync, constants as fsc } from "node:fs";
import type { FdRecord, InotifyRecord } from "@cr/format";
import { createInotify, NativeError, openByHandle, OPEN, queuedBytes } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError, errnoCode } from "../errors.js";
import { procPath, readProcText } from "../process/procfs.js";
import { throughCopy, type FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedInotify = InotifyRecord["instances"][number];

// ================================================================ checkpoint half

/** A watch as fdinfo shows it: the watched file named by its device and a file handle. */
export interface InotifyMark {
  wd: number;
  mask: number;
  ino: bigint;
  /** The kernel's dev_t of the file's filesystem (major << 20 | minor). */
  sdev: number;
  /** Absent when the filesystem gives its files no handle (procfs, sysfs). */
  handle?: { type: number; bytes: Buffer };
}

/**
 * The watches of each inotify instance of `files`, through its lowest fd; `sharers` (dups, and
 * descriptions an earlier process of the tree saves) are left out. A watch whose file cannot be
 * found again fails the snapshot, as `cr check` says.
 */
export function collectInotify(pid: number, files: FdEntry[], sharers: SharedFd[]): SavedInotify[] {
  const mounts = new Mounts(pid);
  return firstOfEachDescription(files, sharers, "inotify").map((f) => {
    const watches = parseMarks(readProcText(pid, `fdinfo/${f.fd}`)).map((m) => {
      const found = watchedPath(mounts, m);
      if (typeof found !== "string") throw new CrError(`process ${pid}: ${lostReason(f.fd, m, found.why)}`, { code: "INOTIFY_WATCH", pid, fd: f.fd });
      return { wd: m.wd, mask: m.mask, path: found };
    });
    return { fd: f.fd, watches };
  });
}

/** What the snapshot of `pid` loses of its inotify instances: the events queued, not read yet. */
export function inotifyWarnings(pid: number, files: FdEntry[], sharers: SharedFd[]): string[] {
  return firstOfEachDescription(files, sharers, "inotify").flatMap((f) => {
    const queued = throughCopy(pid, f.fd, queuedBytes) ?? 0;
    return queued > 0 ? [`inotify instance fd ${f.fd}: the ${queued} bytes of events queued at the checkpoint are not restored (a restart begins with an empty queue)`] : [];
  });
}

/** fdinfo's watch lines: "inotify wd:2 ino:2225db sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:db252200b7bde22c" (hex), ascending by wd. */
export function parseMarks(fdinfo: string): InotifyMark[] {
  const line = /^inotify wd:([0-9a-f]+) ino:([0-9a-f]+) sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:[0-9a-f]+(?: fhandle-bytes:[0-9a-f]+ fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+))?/gm;
  return [...fdinfo.matchAll(line)]
    .map((m) => ({
      wd: Number.parseInt(m[1]!, 16),
      ino: BigInt(`0x${m[2]}`),
      sdev: Number.parseInt(m[3]!, 16),
      mask: Number.parseInt(m[4]!, 16),
      ...(m[5] === undefined ? {} : { handle: { type: Number.parseInt(m[5], 16), bytes: Buffer.from(m[6]!, "hex") } }),
    }))
    .sort((a, b) => a.wd - b.wd);
}

/** `cr check`: inotify instances with a watch whose file cannot be found again. */
export function inotifyProblems(pid: number, files: FdEntry[]): Problem[] {
  const mounts = new Mounts(pid);
  return files
    .filter((f) => f.kind === "inotify")
    .flatMap((f) =>
      parseMarks(readProcText(pid, `fdinfo/${f.fd}`)).flatMap((m) => {
        const found = watchedPath(mounts, m);
        return typeof found === "string" ? [] : [{ resource: `fd ${f.fd}`, kind: "inotify", reason: lostReason(f.fd, m, found.why) }];
      }),
    );
}

function lostReason(fd: number, m: InotifyMark, why: string): string {
  return `inotify instance ${fd} watches a file (inode ${m.ino}, watch descriptor ${m.wd}) that ${why}: a restart cannot watch it again; remove the watch (inotify_rm_watch) or keep the file`;
}

const DELETED = " (deleted)";

/** The path of the file a watch names, or why there is none. */
function watchedPath(mounts: Mounts, m: InotifyMark): string | { why: string } {
  if (!m.handle) return { why: "its filesystem gives no file handle for" };
  const mount = mounts.of(m.sdev);
  if (mount === undefined) return { why: `is on a filesystem (device ${Math.floor(m.sdev / MINORS)}:${m.sdev % MINORS}) mounted nowhere the process sees` };
  const path = throughHandle(mount, m.handle);
  if (typeof path !== "string") return { why: path.code === "ESTALE" ? "was deleted" : `cannot be opened by its file handle (open_by_handle_at: ${path.code})` };
  if (path.endsWith(DELETED)) return { why: `was deleted (${path.slice(0, -DELETED.length)})` };
  if (!path.startsWith("/")) return { why: `is out of reach of cr's root (${path})` };
  return path;
}

/** readlink of an O_PATH descriptor opened by handle on the filesystem mounted at `mount`, or why open_by_handle_at failed (ESTALE: the file is gone). */
function throughHandle(mount: string, handle: { type: number; bytes: Buffer }): string | { code: string } {
  const mountFd = openPath(mount);
  try {
    const fd = openByHandle(mountFd, handle.type, handle.bytes);
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    return { code: error.code };
  } finally {
    closeSync(mountFd);
  }
}

function openPath(path: string): number {
  try {
    return openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY); // not O_PATH: open_by_handle_at takes no such descriptor (EBADF)
  } catch (error) {
    throw new CrError(`cannot open ${path}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
  }
}

/** The kernel's dev_t keeps the minor in its low 20 bits. */
const MINORS = 2 ** 20;

/** The mount points of a process's mount namespace (/proc/PID/mountinfo), by device, read once. */
class Mounts {
  private byDevice: Map<number, string> | undefined;
  constructor(private readonly pid: number) {}

  /** Where a mount of device `sdev` (the kernel's dev_t) is, through the process's root: one of the whole filesystem first. */
  of(sdev: number): string | undefined {
    this.byDevice ??= this.read();
    return this.byDevice.get(sdev);
  }

  private read(): Map<number, string> {
    const found = new Map<number, string>();
    for (const line of readProcText(this.pid, "mountinfo").split("\n")) {
      // id parent major:minor root mountpoint ...
      const [, , device, root, point] = line.split(" ");
      const [major, minor] = (device ?? "").split(":").map(Number);
      if (point === undefined || major === undefined || minor === undefined) continue;
      const sdev = major * MINORS + minor;
      // A bind mount of a directory reaches only what is under it: a mount of the root of its filesystem reaches every file.
      if (!found.has(sdev) || root === "/") found.set(sdev, procPath(this.pid, `root${unescape(point)}`));
    }
    return found;
  }
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

// ================================================================ restart half

/** The inotify instance of descriptor `fd`, made again in cr with its status flags and its watches under their numbers. */
export function makeInotify(fd: FdRecord, inotify: SavedInotify): number {
  return createInotify(fd.openFlags & OPEN.O_NONBLOCK, inotify.watches);
}

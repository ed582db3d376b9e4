/**
 * Small shared readers of /proc/PID. Every read is read-only and touches nothing in the target.
 *
 * Errors: a path that vanishes (ENOENT) or a process that dies (ESRCH) while cr reads becomes a
 * CrError naming the pid and the path. When the process itself is gone the code is "ESRCH";
 * when only the entry is gone (an fd closed between listing and reading it) the code is "ENOENT",
 * so a caller can tell "the process exited" from "this one fd is no longer there".
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, statfsSync, statSync, type BigIntStats } from "node:fs";
import { PROCESS } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";

/** `/proc/PID` or `/proc/PID/REL`. */
export function procPath(pid: number, rel?: string): string {
  return rel === undefined ? `/proc/${pid}` : `/proc/${pid}/${rel}`;
}

/** True while /proc/PID exists (a zombie still exists; a reaped process does not). */
export function processExists(pid: number): boolean {
  return existsSync(procPath(pid));
}

/** Fails with CrError ESRCH "no process N" unless /proc/N exists. */
export function requireProcess(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new CrError(`${pid} is not a process id`, { code: "EINVAL", pid });
  }
  if (!processExists(pid)) throw new CrError(`no process ${pid}`, { code: "ESRCH", pid, path: procPath(pid) });
}

/**
 * Turns a failed read of `/proc/PID/REL` into a CrError. ENOENT/ESRCH mean the process exited
 * (or, if /proc/PID is still there, that this one entry vanished); EACCES/EPERM name the
 * privilege that is missing. Anything else is wrapped with its errno, never swallowed.
 */
export function procError(pid: number, rel: string, error: unknown): CrError {
  const path = procPath(pid, rel);
  const code = errnoCode(error);
  if (code === "ENOENT" || code === "ESRCH") {
    if (!processExists(pid) || isExiting(pid)) {
      return new CrError(`process ${pid} exited while cr was reading ${path}`, { code: "ESRCH", pid, path, cause: error });
    }
    return new CrError(`${path} vanished while cr was reading it`, { code: "ENOENT", pid, path, cause: error });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new CrError(`cannot read ${path} of process ${pid}: permission denied (${privilegeHint()})`, {
      code,
      pid,
      path,
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new CrError(`cannot read ${path} of process ${pid}: ${detail}`, { code: code ?? "EIO", pid, path, cause: error });
}

/**
 * Whether the process is in its exit, or done with it: its cwd, root and files go before /proc/PID
 * does (a zombie, or PF_EXITING in the flags of /proc/PID/stat).
 */
function isExiting(pid: number): boolean {
  let text: string;
  try {
    text = readFileSync(procPath(pid, "stat"), "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ESRCH") return true; // gone meanwhile
    throw error;
  }
  const [state, , , , , , flags] = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return state === "Z" || state === "X" || (Number(flags) & PROCESS.PF_EXITING) !== 0;
}

/** What to do about a permission error: as root, the cause is elsewhere (a security module, a namespace). */
function privilegeHint(): string {
  if (process.geteuid?.() === 0) return "cr runs as root: something else denies it, such as a security module or a process in another user namespace";
  return "cr needs to run as root or as the process's user";
}

function guarded<T>(pid: number, rel: string, read: (path: string) => T): T {
  try {
    return read(procPath(pid, rel));
  } catch (error) {
    throw procError(pid, rel, error);
  }
}

/** The whole file as text (utf8). */
export function readProcText(pid: number, rel: string): string {
  return guarded(pid, rel, (path) => readFileSync(path, "utf8"));
}

/** The whole file as bytes (auxv, cmdline). */
export function readProcBytes(pid: number, rel: string): Buffer {
  return guarded(pid, rel, (path) => readFileSync(path));
}

/** The target of a /proc symlink (exe, cwd, fd/N, map_files/A-B). */
export function readProcLink(pid: number, rel: string): string {
  return guarded(pid, rel, (path) => readlinkSync(path, "utf8"));
}

/** Names in a /proc directory (fd, task, map_files). */
export function listProcDir(pid: number, rel: string): string[] {
  return guarded(pid, rel, (path) => readdirSync(path));
}

/** stat(2) through a /proc magic link: the identity of the object the link points at. */
export function statProc(pid: number, rel: string): BigIntStats {
  return guarded(pid, rel, (path) => statSync(path, { bigint: true }));
}

/** The file system type (statfs f_type, FS_MAGIC) of the file a /proc magic link points at (fd/N, map_files/A-B). */
export function fileSystemOf(pid: number, rel: string): number {
  return guarded(pid, rel, (path) => statfsSync(path).type);
}

/**
 * `Key:\tvalue` lines (status, fdinfo) into a map of trimmed values. Lines without a colon are
 * ignored; a repeated key keeps its first value (fdinfo repeats `tfd:`/`inotify` lines, which
 * callers needing them parse from the text).
 */
export function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (!out.has(key)) out.set(key, line.slice(colon + 1).trim());
  }
  return out;
}

/** A required key of a parsed status-like file, or a CrError naming the file. */
export function requireKey(values: Map<string, string>, key: string, pid: number, rel: string): string {
  const value = values.get(key);
  if (value === undefined) {
    throw new CrError(`${procPath(pid, rel)} has no "${key}:" line (unexpected kernel format)`, {
      code: "EPROTO",
      pid,
      path: procPath(pid, rel),
    });
  }
  return value;
}

/** The identity of a file as seen now; compared at restart to tell whether the file changed. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

export function fileIdentity(stats: BigIntStats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs };
}

/** The comm of any process, or undefined if it has gone (used only to name other processes). */
export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(procPath(pid, "comm"), "utf8").replace(/\n$/, "");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw procError(pid, "comm", error);
  }
}

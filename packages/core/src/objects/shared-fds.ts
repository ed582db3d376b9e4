/**
 * Descriptors that share one open file description (dup, dup2, fork): they share its offset,
 * its status flags, and the OFD locks, flocks and leases held through it. /proc does not show
 * it; kcmp(KCMP_FILE) tells. Checkpoint half: collectSharedFds (the SHARED_FDS record);
 * restart half: sharedSource, which gives a sharer the source opened for its lowest fd, so the
 * stub's dup2 makes them one description again instead of two opens of the same file.
 */
import type { SharedFdsRecord } from "@cr/format";
import { NativeError, sameOpenFile } from "@cr/native";
import { CrError } from "../errors.js";
import type { FdEntry } from "./files.js";

export type SharedFd = SharedFdsRecord["fds"][number];

/**
 * Every fd that shares its description with a lower one, with that lowest fd. Only fds of one
 * inode can share, so kcmp runs only between those. An fd closed meanwhile (the process runs
 * during `cr check`) shares nothing.
 */
export function collectSharedFds(pid: number, files: FdEntry[]): SharedFd[] {
  const shared: SharedFd[] = [];
  const firsts = new Map<string, number[]>(); // inode -> lowest fd of each description seen
  for (const entry of [...files].sort((a, b) => a.fd - b.fd)) {
    const key = `${entry.dev}:${entry.ino}`;
    const seen = firsts.get(key) ?? [];
    const first = seen.find((fd) => sameDescription(pid, fd, entry.fd));
    if (first === undefined) firsts.set(key, [...seen, entry.fd]);
    else shared.push({ fd: entry.fd, sameAs: first });
  }
  return shared;
}

function sameDescription(pid: number, a: number, b: number): boolean {
  try {
    return sameOpenFile(pid, a, b);
  } catch (error) {
    if (error instanceof NativeError && error.code === "EBADF") return false; // closed under us
    if (error instanceof NativeError) throw new CrError(`cannot tell whether fds ${a} and ${b} of process ${pid} share an open file: ${error.message}`, { code: error.code, pid, cause: error });
    throw error;
  }
}

/**
 * The source already opened for the description `fd` shares, or undefined when it is opened
 * on its own: not a sharer, or either fd replaced by --inherit-fd (which names one fd only).
 */
export function sharedSource(fd: number, shared: ReadonlyMap<number, number>, opened: [number, number][], inherit: ReadonlyMap<number, string>): number | undefined {
  const first = shared.get(fd);
  if (first === undefined || inherit.has(fd) || inherit.has(first)) return undefined;
  const pair = opened.find(([target]) => target === first);
  if (!pair) throw new CrError(`the image says fd ${fd} shares the open file of fd ${first}, which it does not have`, { code: "BAD_IMAGE" });
  return pair[1];
}

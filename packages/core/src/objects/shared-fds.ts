/**
 * Descriptors that share one open file description (dup, dup2, fork): they share its offset,
 * its status flags, and the OFD locks, flocks and leases held through it. /proc does not show
 * it; kcmp(KCMP_FILE) tells, within a process and across two. Checkpoint half: collectSharedFds
 * (the SHARED_FDS record: within the process) and collectTreeSharedFds (TREE_SHARED_FDS: with an
 * earlier process of the tree, such as the output file a shell's children inherit); restart
 * half: sharedSource and treeSharedSources, which give a sharer the source opened for the first
 * holder, so the stubs' dup2 make them one description again instead of two opens of the file.
 */
import type { SharedFdsRecord, TreeSharedFdsRecord } from "@cr/format";
import { NativeError, sameOpenFile, type ProcessFd } from "@cr/native";
import { CrError } from "../errors.js";
import type { FdEntry } from "./files.js";

export type SharedFd = SharedFdsRecord["fds"][number];
export type TreeSharedFd = TreeSharedFdsRecord["fds"][number];

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
    const first = seen.find((fd) => sameDescription({ pid, fd }, { pid, fd: entry.fd }));
    if (first === undefined) firsts.set(key, [...seen, entry.fd]);
    else shared.push({ fd: entry.fd, sameAs: first });
  }
  return shared;
}

/** The descriptors of one kind, one per open file description: its lowest fd (the others are its sharers). */
export function firstOfEachDescription(files: FdEntry[], shared: SharedFd[], kind: FdEntry["kind"]): FdEntry[] {
  const sharers = new Set(shared.map((s) => s.fd));
  return files.filter((f) => f.kind === kind && !sharers.has(f.fd));
}

/** A frozen process of the tree, as collectTreeSharedFds needs it. */
export interface MemberFiles {
  pid: number;
  files: FdEntry[];
  /** Its own sharers (collectSharedFds): only the lowest fd of a description is compared. */
  shared: SharedFd[];
}

/**
 * Per process (given in table order), every description it shares with an earlier one, named
 * by that one's lowest fd of it. Pipes and sockets are left out: a restart makes each of the
 * tree's once. Only fds of one inode can share, so kcmp runs only between those.
 */
export function collectTreeSharedFds(members: MemberFiles[]): Map<number, TreeSharedFd[]> {
  const firsts = new Map<string, ProcessFd[]>(); // inode -> the first holder of each description seen
  const found = new Map<number, TreeSharedFd[]>();
  for (const { pid, files, shared } of members) {
    const sharers = new Set(shared.map((s) => s.fd));
    const own: TreeSharedFd[] = [];
    const mine: [string, ProcessFd][] = [];
    for (const entry of files.filter((f) => ONE_DESCRIPTION_EACH.has(f.kind) && !sharers.has(f.fd))) {
      const key = `${entry.dev}:${entry.ino}`;
      const first = (firsts.get(key) ?? []).find((holder) => sameDescription(holder, { pid, fd: entry.fd }));
      if (first) own.push({ fd: entry.fd, pid: first.pid, sameAs: first.fd });
      else mine.push([key, { pid, fd: entry.fd }]);
    }
    for (const [key, holder] of mine) firsts.set(key, [...(firsts.get(key) ?? []), holder]);
    if (own.length > 0) found.set(pid, own);
  }
  return found;
}

/**
 * The kinds a restart makes one description of per saved descriptor: opened by path (or a deleted
 * file, through cr's), or an eventfd, epoll instance, timerfd, signalfd or inotify instance made
 * again. A pidfd is made in each process that holds it (pidfds.ts).
 */
const ONE_DESCRIPTION_EACH = new Set<FdEntry["kind"]>(["regular", "directory", "devnull", "devzero", "devurandom", "tty", "fifo", "shmem", "eventfd", "epoll", "timerfd", "signalfd", "inotify", "ghost"]);

function sameDescription(a: ProcessFd, b: ProcessFd): boolean {
  try {
    return sameOpenFile(a, b);
  } catch (error) {
    if (error instanceof NativeError && error.code === "EBADF") return false; // closed under us
    const which = a.pid === b.pid ? `fds ${a.fd} and ${b.fd} of process ${a.pid}` : `fd ${a.fd} of process ${a.pid} and fd ${b.fd} of process ${b.pid}`;
    if (error instanceof NativeError) throw new CrError(`cannot tell whether ${which} share an open file: ${error.message}`, { code: error.code, pid: b.pid, cause: error });
    throw error;
  }
}

/** A process's descriptors as a tree restart opened them in cr. */
export interface OpenedTable {
  /** [target fd, cr's fd]. */
  pairs: [number, number][];
  /** The fds given a file by --inherit-fd instead. */
  substituted: ReadonlySet<number>;
}

/**
 * The sources a process's descriptors take from earlier processes of its tree (TREE_SHARED_FDS):
 * fd -> cr's fd opened for the first holder. A description that --inherit-fd replaced in either
 * process is opened on its own.
 */
export function treeSharedSources(pid: number, shared: TreeSharedFd[], earlier: ReadonlyMap<number, OpenedTable>, substituted: ReadonlySet<number>): Map<number, number> {
  const sources = new Map<number, number>();
  for (const { fd, pid: holder, sameAs } of shared) {
    const table = earlier.get(holder);
    const pair = table?.pairs.find(([target]) => target === sameAs);
    if (!table || !pair) throw new CrError(`the image says fd ${fd} of process ${pid} shares the open file of fd ${sameAs} of process ${holder}, which no earlier process of the tree has`, { code: "BAD_IMAGE", pid });
    if (!substituted.has(fd) && !table.substituted.has(sameAs)) sources.set(fd, pair[1]);
  }
  return sources;
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

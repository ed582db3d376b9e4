/**
 * Files, restart half (the checkpoint half is files.ts): checks that the files an image maps
 * or has open are the ones it saw, opens every descriptor again in cr so the stub can be
 * started with them in place (same numbers, open flags and offsets), and sets FD_CLOEXEC
 * inside the restored process afterwards (the stub's exec would close those descriptors).
 *
 * Policy (docs/restart.md): a file the process reads, or maps, must be unchanged (inode,
 * size, mtime) unless `force`; a replaced file (other inode) is refused even for write-only
 * descriptors. A file open write-only that only grew since the checkpoint holds the program's
 * own output written after it: it is cut back to its saved size as the last step before the
 * process resumes (cutBackGrown), so that a restart failing earlier leaves it untouched, and the
 * user is told how many bytes went; with `keepFiles` it stays as it is and the program writes
 * on from its saved offset.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, statSync, constants as fsc } from "node:fs";
import { FileKind, PipeEnd, SocketState, type FdRecord, type InetSocketRecord, type TcpConnectionRecord, type UnixSocketRecord, type VmaRecord } from "@cr/format";
import { createPipe, FCNTL, NativeError, O_PATH, OPEN } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { FifoHolders, refillPipes, type PipeBytes, type PipeSizes } from "./pipes.js";
import { Recreated, type RemovedFiles } from "./removed.js";
import { makeEpoll } from "./epolls.js";
import { makeEventfd, type SavedEventfd } from "./eventfds.js";
import { makeSignalfd, type SavedSignalfd } from "./signalfds.js";
import { makeTimerfd, type SavedTimerfd } from "./timerfds.js";
import { makeInotify, type SavedInotify } from "./inotify.js";
import { sharedSource, treeSharedSources, type OpenedTable, type TreeSharedFd } from "./shared-fds.js";
import { socketsByInode, TreeSockets } from "./unix-sockets.js";
import { TreeInetSockets } from "./inet-sockets.js";
import type { SavedPtyMaster, TreePtys } from "./pty-pairs.js";
import { objectKey } from "./shmem.js";
import type { RestoredShmemFiles } from "./shmem-files.js";
import type { RestoredGhostFiles } from "./ghost-files.js";

// The saved open flags are the kernel's (OPEN); cr's own opens below take Node's fs.constants.
const { O_ACCMODE, O_WRONLY, O_APPEND } = OPEN;
/**
 * Flags that create or destroy, never replayed when a file is opened again (O_TMPFILE: an unnamed
 * file is made again by ghost-files.ts, and opened as it is); and O_ASYNC, which open(2) only
 * notes (signal-driven I/O is turned on by F_SETFL, fd-owners.ts).
 */
const NOT_REPLAYED = OPEN.O_CREAT | OPEN.O_EXCL | OPEN.O_TRUNC | OPEN.O_NOCTTY | OPEN.O_TMPFILE | FCNTL.O_ASYNC;
/** The status flags restoreFdState sets on a new pipe's end or socket, which pipe2 and socket make without (O_ASYNC: fd-owners.ts). */
const NEW_STATUS = OPEN.O_NONBLOCK | OPEN.O_DIRECT;
const { F_SETFD, FD_CLOEXEC } = FCNTL;
/** The kinds of descriptor whose file position restoreFdState sets. */
const POSITIONED = new Set<number>([FileKind.REGULAR, FileKind.SHMEM, FileKind.GHOST]);

interface Saved {
  path: string;
  inode: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** "written": same size, another mtime (content may differ: only a reader would notice). */
type Change = "missing" | "replaced" | "grew" | "written" | "changed" | null;

function changeOf(saved: Saved): Change {
  let now;
  try {
    now = statSync(saved.path, { bigint: true });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return "missing";
    throw error;
  }
  if (now.ino !== saved.inode) return "replaced";
  if (now.size === saved.size && now.mtimeNs === saved.mtimeNs) return null;
  return now.size > saved.size ? "grew" : now.size === saved.size ? "written" : "changed";
}

function refuse(what: string, path: string, change: Exclude<Change, null>, crid: bigint): CrError {
  const how = change === "missing" ? "is gone" : change === "replaced" ? "was replaced (another inode)" : "changed (size or mtime)";
  return new CrError(`${what} ${path} ${how} since checkpoint ${crid}; restart would give the program other bytes (--force to restart anyway)`, {
    code: "FILE_CHANGED",
    crid,
    path,
    step: "check files",
  });
}

/** What checkFiles found: warnings for the user, and the output files to cut back before the process resumes. */
export interface FileCheck {
  warnings: string[];
  grown: FdRecord[];
  /** Files that changed as would be refused, but whose content the image saved (file-contents.ts): put back. */
  putBack: FdRecord[];
}

export interface FileCheckOptions {
  /** Restart even if files the process reads changed. */
  force: boolean;
  /** Leave output files that grew as they are instead of cutting them back. */
  keepFiles: boolean;
  /** Descriptors replaced by --inherit-fd: their saved files are not used. */
  inherited: ReadonlyMap<number, string>;
  /** Files whose whole content the image saved ("device:inode"): a change is undone, not refused. */
  saved?: ReadonlySet<string>;
}

/**
 * Checks every mapped file and every open regular file; throws for the first change that is
 * refused. Nothing is changed here: output that grew is only listed (`grown`).
 */
export function checkFiles(vmas: VmaRecord[], fds: FdRecord[], crid: bigint, options: FileCheckOptions, made: ReadonlySet<string> = new Set()): FileCheck {
  const warnings: string[] = [];
  const grown: FdRecord[] = [];
  const putBack: FdRecord[] = [];
  const seen = new Set<string>();
  for (const vma of vmas) {
    // A memfd's, tmpfs file's or deleted file's mappings come from the file made from the image
    // (shmem-files.ts, ghost-files.ts).
    if (!vma.path || seen.has(vma.path) || made.has(objectKey(vma))) continue;
    seen.add(vma.path);
    const change = changeOf({ path: vma.path, inode: vma.inode, size: vma.fileSize, mtimeNs: vma.mtimeNs });
    if (!change) continue;
    if (!options.force) throw refuse("mapped file", vma.path, change, crid);
    warnings.push(`mapped file ${vma.path} ${change} since the checkpoint; restarting anyway (--force)`);
  }
  for (const fd of fds.filter((f) => f.kind === FileKind.REGULAR && !options.inherited.has(f.fd))) {
    const change = changeOf(fd);
    const writeOnly = (fd.openFlags & O_ACCMODE) === O_WRONLY;
    // The program never reads a write-only file: what it finds there does not matter, only where it writes.
    if (!change || (writeOnly && change === "written")) continue;
    if (writeOnly && change === "grew") {
      if (options.keepFiles) warnings.push(keptWarning(fd));
      else grown.push(fd);
      continue;
    }
    if (options.saved?.has(`${fd.device}:${fd.inode}`)) {
      putBack.push(fd);
      continue;
    }
    if (!options.force) throw refuse(`file open on fd ${fd.fd}:`, fd.path, change, crid);
    warnings.push(`file ${fd.path} on fd ${fd.fd} ${change} since the checkpoint; restarting anyway (--force)`);
  }
  return { warnings, grown, putBack };
}

/** What restart rebuilds from paths: the working directory, the mapped files, the descriptors, the removed directories and FIFOs. */
export interface PathObjects {
  cwd: string;
  vmas: VmaRecord[];
  fds: FdRecord[];
  removed: RemovedFiles;
  /**
   * Descriptors not to open now: a lease the process holds on their file would be broken (and the
   * open wait for it); the user hands them over at restart.
   */
  unprobed?: ReadonlySet<number>;
  /** The memfds, tmpfs files and deleted files the image saves (objectKey): made from it, nothing on disk to check. */
  made?: ReadonlySet<string>;
}

/**
 * Confirms that restart can rebuild every path-based object of an image, exactly as restart
 * does: the working directory is there, checkFiles passes, and every descriptor opens (closed
 * again at once). Restart's "check files" step, and `cr snapshot --kill` before it kills. UNIX
 * sockets are not opened but made (unix-sockets.ts), and their names checked by restart alone:
 * until the checkpointed process is gone, they are its own.
 */
export function confirmRestorable(objects: PathObjects, crid: bigint, options: FileCheckOptions): FileCheck {
  const recreated = new Recreated(objects.removed, crid);
  try {
    if (!recreated.cwd) checkCwd(objects.cwd, crid);
    const check = checkFiles(objects.vmas, objects.fds, crid, options, objects.made);
    // A file put back from the image may be gone now: restart makes it before it opens it.
    const made = new Set<number>([FileKind.SOCKET, FileKind.SHMEM, FileKind.EVENTFD, FileKind.EPOLL, FileKind.INET_SOCKET, FileKind.TIMERFD, FileKind.SIGNALFD, FileKind.INOTIFY, FileKind.PIDFD, FileKind.GHOST, FileKind.PTY_MASTER]); // not opened by path
    const probed = objects.fds.filter((f) => !objects.unprobed?.has(f.fd) && !made.has(f.kind) && !check.putBack.includes(f));
    openDescriptors(probed, options.inherited, { recreated }).close();
    return check;
  } finally {
    recreated.release();
  }
}

function checkCwd(cwd: string, crid: bigint): void {
  let isDir: boolean;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
    isDir = false;
  }
  if (!isDir) {
    throw new CrError(`the working directory ${cwd} of checkpoint ${crid} is gone; recreate it to restart`, { code: "FILE_CHANGED", crid, path: cwd, step: "check files" });
  }
}

function keptWarning(fd: FdRecord): string {
  const then = fd.openFlags & O_APPEND ? "the program's appends go after them" : `the program writes on from offset ${fd.offset}`;
  return `fd ${fd.fd} (${fd.path}) grew since the checkpoint: kept as it is (--keep-files); ${then}`;
}

/** The descriptors opened in cr for the stub: [target fd, cr's fd]. */
export interface OpenedFds {
  pairs: [number, number][];
  warnings: string[];
  close(): void;
}

/** What the image saved beside the descriptor table. */
export interface SavedWithFds {
  /** fd -> the lowest fd of its open file description (SHARED_FDS): opened once for both. */
  shared?: ReadonlyMap<number, number>;
  /** The bytes buffered in pipes and FIFOs (PIPE_DATA). */
  data?: PipeBytes;
  /** The capacity of pipes and FIFOs not of the default one (PIPE_SIZES). */
  sizes?: PipeSizes;
  /** Removed directories and FIFOs, recreated for the opens. */
  recreated?: Recreated;
  /** memfds and tmpfs files, made again for the opens (shmem-files.ts). */
  shmem?: RestoredShmemFiles;
  /** Deleted files, made again for the opens (ghost-files.ts). */
  ghosts?: RestoredGhostFiles;
  /** The pipes of a process tree (treePipes): an end of one of them is that pipe's, not one of its own. */
  treePipes?: Map<bigint, [number, number]>;
  /** The UNIX sockets of a process tree, made once: a descriptor on one is given cr's. */
  treeSockets?: TreeSockets;
  /** The TCP and UDP sockets of a process tree, made once. */
  treeInet?: TreeInetSockets;
  /** The pseudo-terminal pairs the tree made, made again once: a master is cr's. */
  ptys?: TreePtys;
  /** Descriptors opened by the caller, fd -> cr's fd (a tree's --inherit-fd substitutes): used as they are, not closed. */
  given?: ReadonlyMap<number, number>;
  /** The eventfds, timerfds, signalfds and inotify instances, as saved. */
  objects?: SavedObjects;
}

/** The kernel objects a restart makes again rather than opens, each by the lowest fd of its description. */
export interface SavedObjects {
  eventfds: ReadonlyMap<number, SavedEventfd>;
  timerfds: ReadonlyMap<number, SavedTimerfd>;
  signalfds: ReadonlyMap<number, SavedSignalfd>;
  inotify: ReadonlyMap<number, SavedInotify>;
  ptyMasters: ReadonlyMap<number, SavedPtyMaster>;
}

const NO_OBJECTS: SavedObjects = { eventfds: new Map(), timerfds: new Map(), signalfds: new Map(), inotify: new Map(), ptyMasters: new Map() };

/**
 * Opens every saved descriptor in cr. Both ends of a pipe inside the process become one new
 * pipe; an end whose other side was outside is connected to what `inherit` names for that fd,
 * else to /dev/null, with a warning. Descriptors sharing an open file description get one open;
 * each new pipe and each FIFO gets its saved capacity and bytes back. A pidfd is left to
 * restorePidfds (pidfds.ts): the process it refers to does not exist yet.
 */
export function openDescriptors(fds: FdRecord[], inherit: ReadonlyMap<number, string>, saved: SavedWithFds = {}): OpenedFds {
  const { shared = new Map<number, number>(), data = [], sizes = [], treePipes, treeSockets, treeInet, ptys, given = new Map<number, number>(), objects = NO_OBJECTS } = saved;
  const pairs: [number, number][] = [];
  const warnings: string[] = [];
  const pipes = treePipes ?? pipesInside(fds);
  const made: Made = { pipes, sockets: treeSockets, inet: treeInet, ptys, warnings, data, objects };
  // Every descriptor cr opened, once: duplicated ends of one pipe share theirs.
  const opened = new Set<number>(treePipes ? [] : [...pipes.values()].flat());
  const closeAll = () => opened.forEach((f) => closeSync(f));
  let fifos: FifoHolders | undefined;
  try {
    // A descriptor on a removed directory or FIFO, a memfd, tmpfs or deleted file is opened through cr's one on what it made.
    // A pidfd is made once its process exists (pidfds.ts).
    const located = fds.filter((f) => f.kind !== FileKind.PIDFD || inherit.has(f.fd) || given.has(f.fd)).map((f) => (inherit.has(f.fd) || given.has(f.fd) ? f : locate(saved)(f)));
    fifos = new FifoHolders(located.filter((f) => !inherit.has(f.fd) && !given.has(f.fd)));
    for (const fd of located) {
      // A source given or shared is closed by whoever opened it.
      const reused = given.get(fd.fd) ?? sharedSource(fd.fd, shared, pairs, inherit);
      const source = reused ?? openOne(fd, inherit.get(fd.fd), made);
      if (reused === undefined && ![...pipes.values()].some((p) => p.includes(source)) && !treeSockets?.owns(source) && !treeInet?.owns(source) && !ptys?.owns(source)) opened.add(source);
      pairs.push([fd.fd, source]);
    }
    if (!treePipes) refillPipes(pipes, data, sizes);
    fifos.refill(located, data, sizes, warnings);
  } catch (error) {
    closeAll();
    throw error;
  } finally {
    fifos?.close();
  }
  return { pairs, warnings, close: closeAll };
}

/**
 * A descriptor as openOne opens it: on what cr made for it, through cr's /proc link to that (a
 * symlink, which the O_NOFOLLOW the description keeps, e.g. python's tempfile's, would refuse).
 */
function locate(saved: SavedWithFds): (fd: FdRecord) => FdRecord {
  return (fd) => {
    const made = madePath(fd, saved);
    return made === undefined ? fd : { ...fd, path: made, openFlags: fd.openFlags & ~OPEN.O_NOFOLLOW };
  };
}

/** cr's path to what it made for `fd`, if it made it: a shmem file, a deleted file, a removed directory or FIFO. */
function madePath(fd: FdRecord, { shmem, ghosts, recreated }: SavedWithFds): string | undefined {
  if (fd.kind === FileKind.SHMEM) return shmem?.pathFor(fd);
  if (fd.kind === FileKind.GHOST) return ghosts?.pathFor(fd);
  return recreated?.pathFor(fd);
}

/** The descriptors of a tree's processes, one table each, opened in cr. */
export interface TreeFds {
  /** Per process, in the order given: [target fd, cr's fd]; a cr fd may serve several processes. */
  tables: [number, number][][];
  warnings: string[];
  close(): void;
  /** The restart failed, before close: removes the socket files made for it, and closes its TCP connections without a word to their peers. */
  abandon(): void;
}

/** One process's saved descriptors and what was saved beside them. */
export interface ProcessFds {
  pid: number;
  fds: FdRecord[];
  shared: ReadonlyMap<number, number>;
  /** The open file descriptions it shares with earlier processes (TREE_SHARED_FDS). */
  treeShared: TreeSharedFd[];
  /** Its eventfds, timerfds, signalfds and inotify instances (EVENTFDS, TIMERFDS, SIGNALFDS, INOTIFY). */
  eventfds: SavedEventfd[];
  timerfds: SavedTimerfd[];
  signalfds: SavedSignalfd[];
  inotify: SavedInotify[];
  /** Its pseudo-terminal masters (PTY_MASTERS). */
  ptyMasters: SavedPtyMaster[];
  data: PipeBytes;
  sizes: PipeSizes;
  /** The UNIX sockets its section saved (each socket of the tree is in one section). */
  sockets: UnixSocketRecord[];
  /** The TCP and UDP sockets its section saved (each socket of the tree is in one section). */
  inetSockets: InetSocketRecord[];
  /** The state of its established TCP connections (TCP_CONNECTIONS). */
  tcpConnections: TcpConnectionRecord[];
}

/**
 * Opens every descriptor of a tree's processes in cr. A pipe whose ends are all in the tree is
 * one new pipe, its bytes and capacity restored once; every UNIX socket is made once
 * (unix-sockets.ts); a description several processes share is opened once, for the first. `inherit` substitutes fd N of each process where it is not an end of such a
 * pipe or such a socket, one open shared by all (as the inherited stdout was).
 */
export function openTreeDescriptors(processes: ProcessFds[], inherit: ReadonlyMap<number, string>, made: Required<Pick<SavedWithFds, "recreated" | "shmem" | "ghosts" | "ptys">>): TreeFds {
  const all = processes.flatMap((p) => p.fds);
  const pipes = pipesInside(all);
  const records = socketsByInode(processes.flatMap((p) => p.sockets));
  const inetRecords = new Set(processes.flatMap((p) => p.inetSockets.map((s) => s.inode)));
  let sockets: TreeSockets | undefined;
  let inet: TreeInetSockets | undefined;
  const done: OpenedFds[] = [];
  const substitutes = new Map<number, number>();
  const closeAll = () => {
    done.forEach((o) => o.close());
    sockets?.close();
    inet?.close();
    for (const f of [...[...pipes.values()].flat(), ...substitutes.values()]) closeSync(f);
  };
  const ofTree = (f: FdRecord) => (f.kind === FileKind.PIPE && pipes.has(f.pipeId)) || (f.kind === FileKind.SOCKET && records.get(f.inode)?.state !== SocketState.OUTSIDE) || (f.kind === FileKind.INET_SOCKET && inetRecords.has(f.inode));
  try {
    for (const [fd, path] of inherit) {
      const first = all.find((f) => f.fd === fd);
      if (first) substitutes.set(fd, openOne(first, path, { pipes, sockets: undefined, inet: undefined, ptys: undefined, warnings: [], data: [], objects: NO_OBJECTS }));
    }
    sockets = new TreeSockets(records);
    inet = new TreeInetSockets(processes.flatMap((p) => p.inetSockets), processes.flatMap((p) => p.tcpConnections));
    const data = firstOfEachPipe(processes.flatMap((p) => p.data));
    const fifoOwner = new Map<bigint, ProcessFds>(); // a FIFO's bytes go in once, with its first holder's opens
    for (const p of processes) for (const f of p.fds) if (f.kind === FileKind.FIFO && !fifoOwner.has(f.pipeId)) fifoOwner.set(f.pipeId, p);
    const earlier = new Map<number, OpenedTable>();
    for (const p of processes) {
      const substituted = new Map([...substitutes].filter(([fd]) => !p.fds.some((f) => f.fd === fd && ofTree(f))));
      const given = new Map([...substituted, ...treeSharedSources(p.pid, p.treeShared, earlier, new Set(substituted.keys()))]);
      const fifoData = data.filter((d) => fifoOwner.get(d.pipeId) === p);
      const opened = openDescriptors(p.fds, new Map(), { shared: p.shared, data: fifoData, sizes: p.sizes, ...made, treePipes: pipes, treeSockets: sockets, treeInet: inet, given, objects: objectsOf(p) });
      done.push(opened);
      earlier.set(p.pid, { pairs: opened.pairs, substituted: new Set(substituted.keys()) });
    }
    refillPipes(pipes, data, processes.flatMap((p) => p.sizes));
  } catch (error) {
    inet?.abandon();
    closeAll();
    sockets?.unbind();
    throw error;
  }
  const whose = (i: number) => (processes.length > 1 ? `process ${processes[i]!.pid}: ` : "");
  const warnings = [...sockets.warnings, ...done.flatMap((o, i) => o.warnings.map((w) => whose(i) + w))];
  const abandon = () => {
    inet?.abandon();
    sockets?.unbind();
  };
  return { tables: done.map((o) => o.pairs), warnings, close: closeAll, abandon };
}

function objectsOf(p: ProcessFds): SavedObjects {
  const byFd = <T extends { fd: number }>(saved: T[]) => new Map(saved.map((o) => [o.fd, o]));
  return { eventfds: byFd(p.eventfds), timerfds: byFd(p.timerfds), signalfds: byFd(p.signalfds), inotify: byFd(p.inotify), ptyMasters: byFd(p.ptyMasters) };
}

/** Each pipe's bytes once: every process holding an end saved them. */
function firstOfEachPipe(data: PipeBytes): PipeBytes {
  return [...new Map(data.map((d) => [d.pipeId, d])).values()];
}

/** Pipes with both ends in the process: one new pipe each, by pipe id. */
function pipesInside(fds: FdRecord[]): Map<bigint, [number, number]> {
  return new Map([...idsOfPipesInside(fds)].map((id) => [id, createPipe()]));
}

/** The ids of the pipes whose both ends the process has. */
function idsOfPipesInside(fds: FdRecord[]): Set<bigint> {
  const ends = new Map<bigint, Set<number>>();
  for (const fd of fds.filter((f) => f.kind === FileKind.PIPE)) {
    ends.set(fd.pipeId, (ends.get(fd.pipeId) ?? new Set()).add(fd.pipeEnd));
  }
  return new Set([...ends].filter(([, set]) => set.has(PipeEnd.READ) && set.has(PipeEnd.WRITE)).map(([id]) => id));
}

/** What openOne takes a descriptor from rather than opening it: the tree's pipes and sockets, and what the objects made again are made of. */
interface Made {
  pipes: Map<bigint, [number, number]>;
  sockets: TreeSockets | undefined;
  inet: TreeInetSockets | undefined;
  ptys: TreePtys | undefined;
  warnings: string[];
  data: PipeBytes;
  objects: SavedObjects;
}

function openOne(fd: FdRecord, inherit: string | undefined, made: Made): number {
  const { pipes, sockets, warnings, data } = made;
  const substitute = (path: string, flags: number) => openPath(fd, path, flags);
  if (inherit !== undefined) return substitute(inherit, fd.openFlags & ~NOT_REPLAYED & ~fsc.O_DIRECTORY);
  switch (fd.kind) {
    case FileKind.SOCKET: {
      const socket = sockets?.fdOf(fd.inode);
      if (socket === undefined) throw new CrError(`fd ${fd.fd} was a UNIX socket connected outside the tree: restart with --inherit-fd ${fd.fd}:PATH to give it a file instead`, { code: "INHERIT_NEEDED", fd: fd.fd, step: "open files" });
      return socket;
    }
    case FileKind.INET_SOCKET: {
      const socket = made.inet?.fdOf(fd.inode);
      if (socket === undefined) throw new CrError(`fd ${fd.fd} was a network socket handed over at the checkpoint (--inherit-fd): restart with --inherit-fd ${fd.fd}:PATH to give it a file`, { code: "INHERIT_NEEDED", fd: fd.fd, step: "open files" });
      return socket;
    }
    case FileKind.PIPE: {
      const pipe = pipes.get(fd.pipeId);
      if (pipe) return pipe[fd.pipeEnd === PipeEnd.WRITE ? 1 : 0];
      const lost = data.find((d) => d.pipeId === fd.pipeId)?.bytes.length ?? 0;
      const dropped = lost > 0 ? `, the ${lost} bytes buffered in it are not restored` : "";
      warnings.push(`fd ${fd.fd} was one end of a pipe to outside the process: connected to /dev/null${dropped} (--inherit-fd ${fd.fd}:PATH to choose)`);
      return substitute("/dev/null", fd.pipeEnd === PipeEnd.WRITE ? fsc.O_WRONLY : fsc.O_RDONLY);
    }
    case FileKind.EVENTFD:
      return madeAgain(fd, "eventfd", "EVENTFDS", made.objects.eventfds, makeEventfd);
    case FileKind.PTY_MASTER:
      return madeAgain(fd, "pseudo-terminal master", "PTY_MASTERS", made.objects.ptyMasters, (_, m) => made.ptys!.masterOf(m.index));
    case FileKind.EPOLL:
      return makeEpoll(fd);
    case FileKind.TIMERFD:
      return madeAgain(fd, "timerfd", "TIMERFDS", made.objects.timerfds, makeTimerfd);
    case FileKind.SIGNALFD:
      return madeAgain(fd, "signalfd", "SIGNALFDS", made.objects.signalfds, makeSignalfd);
    case FileKind.INOTIFY:
      return madeAgain(fd, "inotify instance", "INOTIFY", made.objects.inotify, makeInotify);
    case FileKind.DIRECTORY:
      return substitute(fd.path, fsc.O_RDONLY | fsc.O_DIRECTORY | (fd.openFlags & O_PATH));
    case FileKind.REGULAR:
    case FileKind.SHMEM:
    case FileKind.GHOST:
    case FileKind.DEVICE:
    case FileKind.FIFO:
      return substitute(fd.path, fd.openFlags & ~NOT_REPLAYED);
    default:
      throw new CrError(`fd ${fd.fd} (${fd.path}) is of a kind cr cannot restore: give it a file with --inherit-fd ${fd.fd}:PATH`, { code: "UNSUPPORTED", fd: fd.fd, path: fd.path, step: "open files" });
  }
}

/** A kernel object made again in cr by `make` from what `record` saved of it. */
function madeAgain<T>(fd: FdRecord, what: string, record: string, saved: ReadonlyMap<number, T>, make: (fd: FdRecord, saved: T) => number): number {
  const object = saved.get(fd.fd);
  if (object === undefined) throw new CrError(`the image has ${what} ${fd.fd} without its ${record} record`, { code: "BAD_IMAGE", fd: fd.fd, step: "open files" });
  try {
    return make(fd, object);
  } catch (error) {
    if (error instanceof NativeError) throw new CrError(`cannot make ${what} ${fd.fd} again: ${error.message}`, { code: error.code, fd: fd.fd, step: "open files", cause: error });
    throw error;
  }
}

function openPath(fd: FdRecord, path: string, flags: number): number {
  try {
    return openSync(path, flags);
  } catch (error) {
    const code = errnoCode(error);
    // /dev/tty opens the opener's controlling terminal: cr's, which a restart from a script lacks.
    const why = code === "ENXIO" && path === "/dev/tty" ? `: cr restart has no controlling terminal to give it (restart from a terminal, or --inherit-fd ${fd.fd}:PATH)` : "";
    throw new CrError(`cannot open ${path} for fd ${fd.fd}: ${code ?? String(error)}${why}`, { code: code ?? "EIO", path, step: "open files", cause: error });
  }
}

/**
 * The last step before the process resumes: each output file that grew is cut back to its saved
 * size, through the descriptor opened for the process. Returns what was dropped, for the user.
 */
export function cutBackGrown(grown: FdRecord[], pairs: [number, number][]): string[] {
  const warnings: string[] = [];
  for (const fd of grown) {
    const [, f] = pairs.find(([target]) => target === fd.fd)!;
    try {
      const size = fstatSync(f, { bigint: true }).size;
      if (size <= fd.size) continue;
      ftruncateSync(f, Number(fd.size));
      warnings.push(`fd ${fd.fd} (${fd.path}) cut back to its saved ${fd.size} bytes: the ${size - fd.size} bytes written after the checkpoint are dropped (--keep-files keeps them)`);
    } catch (error) {
      throw new CrError(`cannot cut back ${fd.path} on fd ${fd.fd}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path: fd.path, cause: error });
    }
  }
  return warnings;
}

/**
 * Inside the restored process: offsets of regular files (Node has no lseek; the description
 * is shared, so seeking there is the same), FD_CLOEXEC as saved (the stub's exec had to
 * keep every descriptor open), and the status flags of the ends of new pipes and of sockets
 * (pipe2 and socket give none; a socket's description is every holder's, so each sets the same).
 */
export function restoreFdState(remote: Remote, fds: FdRecord[], inherited: Map<number, string>): void {
  const inside = idsOfPipesInside(fds);
  for (const fd of fds) {
    const made = (fd.kind === FileKind.PIPE && inside.has(fd.pipeId)) || fd.kind === FileKind.SOCKET || fd.kind === FileKind.INET_SOCKET;
    if (made && fd.openFlags & NEW_STATUS && !inherited.has(fd.fd)) {
      remote.call("fcntl", [BigInt(fd.fd), BigInt(FCNTL.F_SETFL), BigInt(fd.openFlags & NEW_STATUS)], `restoring the status flags of fd ${fd.fd}`);
    }
    // An O_PATH descriptor only names its file: it has no offset (lseek fails with EBADF).
    if (POSITIONED.has(fd.kind) && !(fd.openFlags & O_PATH) && !inherited.has(fd.fd)) {
      remote.call("lseek", [BigInt(fd.fd), fd.offset, BigInt(OPEN.SEEK_SET)], `restoring the offset of fd ${fd.fd} (${fd.path})`);
    }
    if (fd.fdFlags & FD_CLOEXEC) remote.call("fcntl", [BigInt(fd.fd), BigInt(F_SETFD), BigInt(FD_CLOEXEC)], `setting FD_CLOEXEC on fd ${fd.fd}`);
  }
}

/**
 * epoll instances: a set of watches, each a file with the descriptor number it was registered
 * under (the pair is the watch's key: epoll_ctl MOD and DEL find it by that number), the events
 * watched for and the data epoll_wait returns with them. Checkpoint half: collectEpolls reads the
 * watches from /proc/PID/fdinfo (the EPOLLS record), once per open file description, and checks
 * with kcmp(KCMP_EPOLL_TFD) that each number still names the watched file: a watch outlives the
 * closing of its descriptor while a dup holds the file, and could not be registered again.
 * Restart half: makeEpoll creates the instance in cr (the stub gets it as it gets every
 * descriptor, files-restore.ts); once the process holds all its descriptors at their numbers,
 * restoreEpollWatches registers each watch again by an epoll_ctl injected in the process. What
 * was ready is found ready again: a watch added on a ready file is queued at once.
 */
import type { EpollsRecord, FdRecord } from "@cr/format";
import { createEpoll, EPOLL, epollWatchIs, NativeError, STRUCTS } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { readProcText } from "../process/procfs.js";
import type { FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedEpoll = EpollsRecord["epolls"][number];
export type EpollWatch = SavedEpoll["watches"][number];

// ================================================================ checkpoint half

/**
 * The watches of each epoll instance of `files`, through its lowest fd; `sharers` (dups, and
 * descriptions an earlier process of the tree saves) are left out. A watch whose number no
 * longer names its file fails the snapshot, as `cr check` says.
 */
export function collectEpolls(pid: number, files: FdEntry[], sharers: SharedFd[]): SavedEpoll[] {
  return firstOfEachDescription(files, sharers, "epoll").map((f) => {
    const watches = parseWatches(readProcText(pid, `fdinfo/${f.fd}`));
    const stray = strayWatch(pid, f.fd, watches);
    if (stray) throw new CrError(`process ${pid}: ${strayReason(f.fd, stray)}`, { code: "EPOLL_WATCH", pid, fd: f.fd });
    return { fd: f.fd, watches };
  });
}

/** fdinfo's watch lines: "tfd: 19 events: 19 data: 13  pos:0 ino:50aaf6 sdev:9" (hex events and data). */
export function parseWatches(fdinfo: string): EpollWatch[] {
  return [...fdinfo.matchAll(/^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)/gm)].map((m) => ({
    tfd: Number(m[1]),
    events: Number.parseInt(m[2]!, 16),
    data: BigInt(`0x${m[3]}`),
  }));
}

/** `cr check`: epoll instances with a watch that cannot be registered again. */
export function epollProblems(pid: number, files: FdEntry[]): Problem[] {
  return files
    .filter((f) => f.kind === "epoll")
    .flatMap((f) => {
      const stray = strayWatch(pid, f.fd, parseWatches(readProcText(pid, `fdinfo/${f.fd}`)));
      return stray ? [{ resource: `fd ${f.fd}`, kind: "epoll", reason: strayReason(f.fd, stray) }] : [];
    });
}

/** The first watch whose descriptor number is closed or another file now. */
function strayWatch(pid: number, epfd: number, watches: EpollWatch[]): EpollWatch | undefined {
  const seen = new Map<number, number>(); // tfd -> watches under it so far: kcmp's toff
  return watches.find((w) => {
    const toff = seen.get(w.tfd) ?? 0;
    seen.set(w.tfd, toff + 1);
    return !watchesItsFd(pid, { epfd, tfd: w.tfd, toff });
  });
}

function watchesItsFd(pid: number, slot: { epfd: number; tfd: number; toff: number }): boolean {
  try {
    return epollWatchIs(pid, slot, slot.tfd);
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    if (error.code === "EBADF") return false; // the number is closed: a dup holds the file
    if (error.code === "ENOENT") return true; // the watch went with its file meanwhile (cr check runs beside the process)
    throw new CrError(`cannot compare epoll ${slot.epfd}'s watch of fd ${slot.tfd} in process ${pid}: ${error.message}`, { code: error.code, pid, cause: error });
  }
}

function strayReason(epfd: number, stray: EpollWatch): string {
  return `epoll instance ${epfd} watches a file under fd ${stray.tfd}, which is closed now or another file (a dup keeps the watched file open): a restart cannot register that watch again; remove it (EPOLL_CTL_DEL) before closing its fd`;
}

// ================================================================ restart half

/** The epoll instance of descriptor `fd`, made again in cr without watches (restoreEpollWatches adds them). */
export function makeEpoll(fd: FdRecord): number {
  try {
    return createEpoll(fd.openFlags);
  } catch (error) {
    if (error instanceof NativeError) throw new CrError(`cannot make epoll instance ${fd.fd} again: ${error.message}`, { code: error.code, fd: fd.fd, step: "open files", cause: error });
    throw error;
  }
}

/**
 * Registers every saved watch again in the restored process, under its descriptor number. A
 * descriptor a restart replaced (a pipe to outside the process given /dev/null, --inherit-fd)
 * may be a file epoll cannot watch (EPERM): a warning says its watch is gone. One-shot watches
 * that fired go first, each fired again (fireOneShot), while nothing else can be ready.
 */
export function restoreEpollWatches(remote: Remote, epolls: SavedEpoll[], files: FdRecord[]): string[] {
  const warnings: string[] = [];
  const all = epolls.flatMap(({ fd, watches }) => watches.map((w) => ({ epfd: fd, w })));
  for (const { epfd, w } of all.filter(({ w }) => hasFired(w))) {
    if (add(remote, epfd, w, w.events | POLL_EVENTS, files, warnings) && !fireOneShot(remote, epfd, w)) {
      warnings.push(`epoll instance ${epfd}: the one-shot watch of fd ${w.tfd}, which had fired, comes back watching for errors and hangups (epoll_ctl adds EPOLLERR|EPOLLHUP, and the fd is ready for nothing that would fire it again)`);
    }
  }
  for (const { epfd, w } of all.filter(({ w }) => !hasFired(w))) add(remote, epfd, w, w.events, files, warnings);
  return warnings;
}

const { EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLLONESHOT, EPOLLET, EPOLLWAKEUP, EPOLLEXCLUSIVE } = EPOLL;
const FLAGS = EPOLLONESHOT | EPOLLET | EPOLLWAKEUP | EPOLLEXCLUSIVE;
/** Every readiness a file can report: what a fired one-shot watch is re-armed for, to fire. */
const POLL_EVENTS = EPOLL.EPOLLIN | EPOLL.EPOLLPRI | EPOLL.EPOLLOUT | EPOLL.EPOLLRDNORM | EPOLL.EPOLLRDBAND | EPOLL.EPOLLWRNORM | EPOLL.EPOLLWRBAND | EPOLL.EPOLLMSG | EPOLL.EPOLLRDHUP;

/** A one-shot watch that fired keeps only its flags: it waits for EPOLL_CTL_MOD. */
function hasFired(w: EpollWatch): boolean {
  return (w.events & EPOLLONESHOT) !== 0 && (w.events & ~FLAGS) === 0;
}

/** epoll_ctl ADD of `w` with `events`; false (with a warning) when the fd cannot be watched now. */
function add(remote: Remote, epfd: number, w: EpollWatch, events: number, files: FdRecord[], warnings: string[]): boolean {
  const what = `registering fd ${w.tfd} with epoll instance ${epfd} again`;
  const ret = remote.call("epoll_ctl", [BigInt(epfd), BigInt(EPOLL_CTL_ADD), BigInt(w.tfd), remote.put(epollEvent(events, w.data))], what, ["EPERM"]);
  if (ret === 0n) return true;
  warnings.push(`fd ${w.tfd} (${files.find((f) => f.fd === w.tfd)?.path ?? "?"}) cannot be watched by epoll instance ${epfd} any more: the restart gave it another file`);
  return false;
}

/**
 * Disarms a one-shot watch just added for every event by an epoll_wait in the process: the
 * kernel leaves it with its flags alone, as it was. epoll_ctl cannot (it adds EPOLLERR|EPOLLHUP
 * to any mask). False when its file is ready for nothing: then it is set to its saved flags.
 */
function fireOneShot(remote: Remote, epfd: number, w: EpollWatch): boolean {
  const out = remote.put(Buffer.alloc(STRUCTS.epoll_event.size), STRUCTS.epoll_event.size);
  const what = `firing the one-shot watch of fd ${w.tfd} in epoll instance ${epfd} again`;
  if (remote.call("epoll_wait", [BigInt(epfd), out, 1n, 0n], what) === 1n) return true;
  remote.call("epoll_ctl", [BigInt(epfd), BigInt(EPOLL_CTL_MOD), BigInt(w.tfd), remote.put(epollEvent(w.events, w.data))], what);
  return false;
}

function epollEvent(events: number, data: bigint): Buffer {
  const layout = STRUCTS.epoll_event;
  const event = Buffer.alloc(layout.size);
  event.writeUInt32LE(events >>> 0, layout.events);
  event.writeBigUInt64LE(data, layout.data);
  return event;
}

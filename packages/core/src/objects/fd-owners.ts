/**
 * Signal-driven I/O, per open file description: the owner SIGIO and SIGURG go to (F_SETOWN,
 * F_SETOWN_EX; taking a lease makes the process the owner too), the signal sent instead of SIGIO
 * (F_SETSIG), and O_ASYNC, which makes the description send them.
 *
 * Checkpoint half: every descriptor a restart reopens is read through a descriptor of cr's own
 * on the same description (files.ts throughCopy: pidfd_getfd, then F_GETOWN_EX, F_GETSIG and
 * F_GETOWNER_UIDS in cr), ~20 µs a descriptor here where two fcntl injected into the frozen
 * process would cost ~70 µs each, so all of them are read and none is guessed. The FD_OWNERS
 * record lists the descriptions that have an owner or a signal, once each (lowest fd).
 * `cr check`: an owner that is not the process, one of its threads or its process group cannot
 * be made the owner again (kind fd-owner).
 *
 * Restart half, inside the restored process once its threads exist and while it is still root:
 * F_SETOWN_EX with the restarted PID, TID or process group, under the saved uids of whoever set
 * it (they decide whom its signals may reach: f_owner keeps the setter's uid and euid), then
 * F_SETSIG, then O_ASYNC by F_SETFL. open(2) takes O_ASYNC into the flags without turning
 * signal-driven I/O on, so restart opens descriptors without it and sets it here, after the owner
 * (a terminal given O_ASYNC without an owner takes one of its own).
 */
import type { FdOwnersRecord, FdRecord } from "@cr/format";
import { FCNTL, fileOwner, type FileOwner, O_PATH, PROCESS, STRUCTS } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import { throughCopy, type FdEntry } from "./files.js";
import type { Remote } from "../process/inject.js";
import { commOf } from "../process/procfs.js";
import type { SharedFd } from "./shared-fds.js";

export type FdOwner = FdOwnersRecord["owners"][number];

/** Descriptors a restart reopens and that can have an owner (an O_PATH one cannot: fcntl refuses). */
function ownable(entry: FdEntry): boolean {
  return entry.kind !== "unsupported" && !entry.internal && (entry.openFlags & O_PATH) === 0;
}

/** Anything F_SETOWN, F_SETOWN_EX or F_SETSIG changed: a new open file description reads all 0. */
function isSet(owner: FileOwner): boolean {
  return owner.type !== 0 || owner.pid !== 0 || owner.signal !== 0;
}

/** Checkpoint half: the owner and signal of each description that has any, through its lowest fd. */
export function collectOwners(pid: number, files: FdEntry[], shared: SharedFd[]): FdOwner[] {
  const sharers = new Set(shared.map((s) => s.fd));
  return files
    .filter((entry) => ownable(entry) && !sharers.has(entry.fd))
    .flatMap((entry) => {
      const owner = throughCopy(pid, entry.fd, fileOwner);
      return owner && isSet(owner) ? [{ fd: entry.fd, ...owner }] : [];
    });
}

/** `cr check`: descriptors whose owner is another process (or its thread, or another group). */
export function ownerProblems(pid: number, files: FdEntry[], pgrp: number, threads: number[]): Problem[] {
  return files.filter(ownable).flatMap((entry) => {
    const owner = throughCopy(pid, entry.fd, fileOwner);
    if (!owner || owner.pid === 0 || ownedHere(owner, { pid, pgrp, threads })) return [];
    const reason = `${entry.path ?? entry.target}: its owner for SIGIO and SIGURG (F_SETOWN) is ${ownerName(owner)}, not this process, one of its threads or its process group: a restart cannot make it the owner again; set the owner to the process itself, or 0, before the checkpoint`;
    return [{ resource: `fd ${entry.fd}`, kind: "fd-owner", reason }];
  });
}

function ownedHere(owner: FileOwner, here: { pid: number; pgrp: number; threads: number[] }): boolean {
  if (owner.type === FCNTL.F_OWNER_TID) return here.threads.includes(owner.pid);
  if (owner.type === FCNTL.F_OWNER_PID) return owner.pid === here.pid;
  return owner.type === FCNTL.F_OWNER_PGRP && owner.pid === here.pgrp;
}

function ownerName(owner: FileOwner): string {
  if (owner.type === FCNTL.F_OWNER_PGRP) return `process group ${owner.pid}`;
  const what = owner.type === FCNTL.F_OWNER_TID ? "thread" : "process";
  return `${what} ${owner.pid} (${commOf(owner.pid) ?? "exited"})`;
}

// ================================================================ restart half

/** The ids the saved owners referred to, and what they are in the restarted process. */
export interface RestartedIds {
  saved: { pid: number; pgrp: number };
  pid: number;
  pgrp: number;
  /** Saved TID -> restarted TID. */
  tids: ReadonlyMap<number, number>;
}

/**
 * Sets every saved owner and signal again, then O_ASYNC on each description that had it. A
 * descriptor replaced by --inherit-fd keeps the substitute's (a warning says so).
 */
export function restoreOwners(remote: Remote, owners: FdOwner[], files: FdRecord[], inherited: ReadonlyMap<number, string>, shared: ReadonlyMap<number, number>, ids: RestartedIds): string[] {
  const warnings: string[] = [];
  for (const owner of owners) {
    const fd = files.find((f) => f.fd === owner.fd);
    if (!fd) throw new CrError(`the image has an owner for fd ${owner.fd}, which it does not have`, { code: "BAD_IMAGE" });
    if (inherited.has(fd.fd)) warnings.push(`fd ${fd.fd}: its owner for SIGIO (${ownerName(owner)}) is not set again: the fd is --inherit-fd ${inherited.get(fd.fd)} now`);
    else setOwner(remote, fd, owner, restartedId(owner, ids));
  }
  for (const fd of files.filter((f) => f.openFlags & FCNTL.O_ASYNC && !inherited.has(f.fd) && !shared.has(f.fd))) {
    remote.call("fcntl", [BigInt(fd.fd), BigInt(FCNTL.F_SETFL), BigInt(fd.openFlags)], `setting O_ASYNC on fd ${fd.fd} (${fd.path})`);
  }
  return warnings;
}

function restartedId(owner: FdOwner, ids: RestartedIds): number {
  if (owner.pid === 0) return 0;
  const id =
    owner.type === FCNTL.F_OWNER_TID ? ids.tids.get(owner.pid)
    : owner.type === FCNTL.F_OWNER_PID && owner.pid === ids.saved.pid ? ids.pid
    : owner.type === FCNTL.F_OWNER_PGRP && owner.pid === ids.saved.pgrp ? ids.pgrp
    : undefined;
  if (id === undefined) throw new CrError(`the image says fd ${owner.fd} is owned by ${ownerName(owner)}, which is not part of the process`, { code: "BAD_IMAGE" });
  return id;
}

const { ID_UNCHANGED } = PROCESS;

/** F_SETOWN_EX under the saved uids (the process is still root: its saved uid brings it back), then F_SETSIG. */
function setOwner(remote: Remote, fd: FdRecord, owner: FdOwner, id: number): void {
  const what = `setting the owner of fd ${fd.fd} (${fd.path}) to ${ownerName({ ...owner, pid: id })}`;
  const { f_owner_ex } = STRUCTS;
  const ownerEx = Buffer.alloc(f_owner_ex.size);
  ownerEx.writeInt32LE(owner.type, f_owner_ex.type);
  ownerEx.writeInt32LE(id, f_owner_ex.pid);
  const own = { uid: process.getuid!(), euid: process.geteuid!() };
  const switchUids = id !== 0 && (owner.uid !== own.uid || owner.euid !== own.euid);
  if (switchUids) remote.call("setresuid", [BigInt(owner.uid), BigInt(owner.euid), ID_UNCHANGED], `${what}: taking the uids of whoever set it`);
  try {
    remote.call("fcntl", [BigInt(fd.fd), BigInt(FCNTL.F_SETOWN_EX), remote.put(ownerEx)], what);
  } finally {
    if (switchUids) remote.call("setresuid", [BigInt(own.uid), BigInt(own.euid), ID_UNCHANGED], `${what}: taking cr's uids back`);
  }
  if (owner.signal !== 0) remote.call("fcntl", [BigInt(fd.fd), BigInt(FCNTL.F_SETSIG), BigInt(owner.signal)], `setting the signal of fd ${fd.fd} (${fd.path}) to ${owner.signal}`);
}

/**
 * File locks: POSIX record locks, OFD locks, flocks and leases. Checkpoint half: the `lock:`
 * lines of /proc/PID/fdinfo/N (parseLockLines, read with the fd), what `cr check` cannot
 * restore (lockProblems), and the LOCKS record (lockRecords). Restart half: restoreLocks takes
 * each lock again inside the restored process through its restored descriptor (fcntl F_SETLK,
 * F_OFD_SETLK, F_SETLEASE, flock), once memory is mapped: mapping a file opens and closes it in
 * the process, and any close drops the process's POSIX locks on that file.
 *
 * A lock another process holds now (the checkpointed one still running) fails the restart with
 * one line naming the file, the lock and the holder: a restart never runs without its locks.
 */
import { readFileSync } from "node:fs";
import { FCNTL, OFFSET_MAX, OPEN, splitDev, STRUCTS } from "@cr/native";
import { LockKind, LockType, type FdRecord, type FileLockRecord } from "@cr/format";
import { CrError } from "../errors.js";
import type { FdEntry } from "./files.js";
import type { Remote } from "../process/inject.js";
import { commOf } from "../process/procfs.js";
import type { SharedFd } from "./shared-fds.js";

/** One `lock:` line: "1: POSIX  ADVISORY  WRITE 1234 fe:00:2278913 0 EOF". */
export interface FileLock {
  /** POSIX, OFDLCK, FLOCK, LEASE, or what else the kernel names (DELEG ...). */
  kind: string;
  /** ADVISORY; for leases ACTIVE, BREAKING or BREAKER. */
  state: string;
  /** READ, WRITE (UNLCK for a lease being broken to nothing). */
  type: string;
  start: bigint;
  /** Last byte, inclusive; OFFSET_MAX for "EOF" (the kernel's own end of an unbounded lock). */
  end: bigint;
}

const LOCK_LINE = /^lock:\s+\d+:\s+(\S+)\s+(\S+)\s+(\S+)\s+-?\d+\s+\S+\s+(\d+)\s+(\d+|EOF)\s*$/;

/** The locks an fdinfo text lists (held through that fd's open file description). */
export function parseLockLines(fdinfo: string): FileLock[] {
  const locks: FileLock[] = [];
  for (const line of fdinfo.split("\n")) {
    if (!line.startsWith("lock:")) continue;
    const m = LOCK_LINE.exec(line);
    if (!m) throw new CrError(`unexpected lock line in fdinfo: "${line}"`, { code: "EPROTO" });
    locks.push({ kind: m[1]!, state: m[2]!, type: m[3]!, start: BigInt(m[4]!), end: m[5] === "EOF" ? OFFSET_MAX : BigInt(m[5]!) });
  }
  return locks;
}

const KINDS: Record<string, number> = { POSIX: LockKind.POSIX, OFDLCK: LockKind.OFD, FLOCK: LockKind.FLOCK, LEASE: LockKind.LEASE };
const NAMES = ["POSIX lock", "OFD lock", "flock", "lease"] as const;

/** Why a lock cannot be restored, or undefined when it can. */
function unrestorable(lock: FileLock): string | undefined {
  if (KINDS[lock.kind] === undefined) return `a ${lock.kind} lock, which cr does not know how to take again`;
  if (lock.kind === "LEASE" && lock.state !== "ACTIVE") {
    return `a lease being broken (another process opened the file): a restart cannot take it mid-break; checkpoint once the program has released or downgraded it`;
  }
  if (lock.kind !== "LEASE" && lock.state !== "ADVISORY") return `a ${lock.state.toLowerCase()} ${lock.kind} lock, which cr cannot take again`;
  if (lock.type !== "READ" && lock.type !== "WRITE") return `a ${lock.kind} lock of type ${lock.type}, which cr cannot take again`;
  return undefined;
}

/** `cr check`: the locks held through a restorable fd that a restart could not take again. */
export function lockProblems(entry: FdEntry): { resource: string; kind: string; reason: string }[] {
  if (entry.kind === "unsupported" || entry.internal) return []; // the fd itself is the problem
  return entry.locks.flatMap((lock) => {
    const why = unrestorable(lock);
    return why ? [{ resource: `fd ${entry.fd}`, kind: "file-lock", reason: `${entry.path ?? entry.target} holds ${why}` }] : [];
  });
}

/**
 * The LOCKS record's entries. Every fd of an open file description lists the same locks, so
 * they are saved once, through its lowest fd (a sharer is skipped).
 */
export function lockRecords(files: FdEntry[], shared: SharedFd[]): FileLockRecord[] {
  const sharers = new Set(shared.map((s) => s.fd));
  return files
    .filter((entry) => !entry.internal && !sharers.has(entry.fd))
    .flatMap((entry) =>
      entry.locks.map((lock) => ({
        fd: entry.fd,
        kind: KINDS[lock.kind]!,
        type: lock.type === "WRITE" ? LockType.WRITE : LockType.READ,
        start: lock.start,
        end: lock.end,
      })),
    );
}

const { F_SETLK, F_OFD_SETLK, F_SETLEASE, F_RDLCK, F_WRLCK, LOCK_SH, LOCK_EX, LOCK_NB } = FCNTL;

/**
 * Takes every saved lock again inside the restored process. A lock on a descriptor replaced by
 * --inherit-fd is not taken (the fd is another file now): a warning says so.
 */
export function restoreLocks(remote: Remote, locks: FileLockRecord[], files: FdRecord[], inherited: ReadonlyMap<number, string>): string[] {
  const warnings: string[] = [];
  for (const lock of locks) {
    const fd = files.find((f) => f.fd === lock.fd);
    if (!fd) throw new CrError(`the image has a ${NAMES[lock.kind]} on fd ${lock.fd}, which it does not have`, { code: "BAD_IMAGE" });
    if (inherited.has(lock.fd)) {
      warnings.push(`fd ${lock.fd}: its ${describe(lock)} on ${fd.path} is not taken again: the fd is --inherit-fd ${inherited.get(lock.fd)} now`);
      continue;
    }
    if (!takeLock(remote, lock, fd)) throw lockTaken(remote.pid, lock, fd);
  }
  return warnings;
}

/** Whether the lock was taken: false on a conflict (EAGAIN, EACCES); any other failure throws. */
function takeLock(remote: Remote, lock: FileLockRecord, fd: FdRecord): boolean {
  const what = `taking the ${describe(lock)} on fd ${fd.fd} (${fd.path}) again`;
  const conflicts = ["EAGAIN", "EWOULDBLOCK", "EACCES"];
  const n = BigInt(fd.fd);
  const write = lock.type === LockType.WRITE;
  let ret: bigint;
  switch (lock.kind) {
    case LockKind.POSIX:
    case LockKind.OFD:
      ret = remote.call("fcntl", [n, BigInt(lock.kind === LockKind.POSIX ? F_SETLK : F_OFD_SETLK), remote.put(flockStruct(lock))], what, conflicts);
      break;
    case LockKind.FLOCK:
      ret = remote.call("flock", [n, BigInt((write ? LOCK_EX : LOCK_SH) | LOCK_NB)], what, conflicts);
      break;
    case LockKind.LEASE:
      ret = remote.call("fcntl", [n, BigInt(F_SETLEASE), BigInt(write ? F_WRLCK : F_RDLCK)], what, conflicts);
      break;
    default:
      throw new CrError(`the image has a file lock of unknown kind ${lock.kind} on fd ${fd.fd}`, { code: "BAD_IMAGE" });
  }
  return ret >= 0n;
}

function flockStruct(lock: FileLockRecord): Buffer {
  const { flock } = STRUCTS;
  const b = Buffer.alloc(flock.size); // l_whence SEEK_SET, l_pid 0 (F_OFD_SETLK requires it)
  b.writeInt16LE(lock.type === LockType.WRITE ? F_WRLCK : F_RDLCK, flock.l_type);
  b.writeInt16LE(OPEN.SEEK_SET, flock.l_whence);
  b.writeBigInt64LE(lock.start, flock.l_start);
  b.writeBigInt64LE(lock.end === OFFSET_MAX ? 0n : lock.end - lock.start + 1n, flock.l_len); // l_len 0: to EOF, however long
  return b;
}

/** "POSIX write lock on bytes 0-9", "flock (shared)", "read lease". */
export function describe(lock: FileLockRecord): string {
  const type = lock.type === LockType.WRITE ? "write" : "read";
  const range = lock.end === OFFSET_MAX ? `bytes ${lock.start} to EOF` : `bytes ${lock.start}-${lock.end}`;
  switch (lock.kind) {
    case LockKind.POSIX:
      return `POSIX ${type} lock on ${range}`;
    case LockKind.OFD:
      return `OFD ${type} lock on ${range}`;
    case LockKind.FLOCK:
      return `flock (${lock.type === LockType.WRITE ? "exclusive" : "shared"})`;
    default:
      return `${type} lease`;
  }
}

function lockTaken(pid: number, lock: FileLockRecord, fd: FdRecord): CrError {
  const why =
    lock.kind === LockKind.LEASE
      ? `another process has the file open${lock.type === LockType.WRITE ? "" : " for writing"} (a ${describe(lock)} needs it open nowhere else${lock.type === LockType.WRITE ? "" : " for writing"}): is the checkpointed process still running?`
      : `it is held by ${holders(pid, fd)}: is the checkpointed process still running? Stop it and restart again`;
  return new CrError(`fd ${fd.fd} (${fd.path}): the ${describe(lock)} cannot be taken again: ${why}`, { code: "LOCK_TAKEN", pid, path: fd.path });
}

/**
 * Restart, before any file is opened: a saved lease whose file another process holds a lease on
 * now (the checkpointed process still running) is refused here, since opening the file to
 * restore it would break that lease (and wait for it up to lease-break-time). Two read leases
 * can coexist.
 */
export function checkLeasesFree(locks: FileLockRecord[], files: FdRecord[]): void {
  for (const lock of locks.filter((l) => l.kind === LockKind.LEASE)) {
    const fd = files.find((f) => f.fd === lock.fd);
    if (!fd) continue; // restoreLocks names the damaged image
    const leases = locksOn(fd.device, fd.inode).filter((l) => l.kind === "LEASE" && (lock.type === LockType.WRITE || l.type === "WRITE"));
    if (leases.length === 0) continue;
    const who = [...new Set(leases.map((l) => l.pid))].map(name).join(", ");
    throw new CrError(`fd ${fd.fd} (${fd.path}): the ${describe(lock)} cannot be taken again: ${who} holds a lease on the file; is the checkpointed process still running? Stop it and restart again`, {
      code: "LOCK_TAKEN",
      path: fd.path,
    });
  }
}

/** The /proc/locks entries on one file (granted ones, not waiters). */
function locksOn(device: bigint, inode: bigint): { kind: string; type: string; pid: string }[] {
  const { major, minor } = splitDev(device);
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  const id = `${hex(major)}:${hex(minor)}:${inode}`;
  const out: { kind: string; type: string; pid: string }[] = [];
  for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
    // "1: POSIX  ADVISORY  WRITE 1234 fe:00:2278913 0 EOF"; a waiter has "->" after the number
    const cols = line.trim().split(/\s+/);
    const at = cols.indexOf(id);
    if (at === 5 && cols[1] !== "->") out.push({ kind: cols[1]!, type: cols[3]!, pid: cols[4]! });
  }
  return out;
}

function name(pid: string): string {
  return pid === "-1" ? "an open file of another process (OFD lock)" : `PID ${pid} (${commOf(Number(pid)) ?? "exited"})`;
}

/** Who else holds locks on the restored fd's file ("PID 1234 (comm)"). */
function holders(pid: number, fd: FdRecord): string {
  const others = locksOn(fd.device, fd.inode).filter((l) => l.pid !== String(pid));
  return others.length > 0 ? [...new Set(others.map((l) => l.pid))].map(name).join(", ") : "another process";
}

/**
 * pidfds: a descriptor that refers to a process (pidfd_open, clone's CLONE_PIDFD), to wait for
 * it, signal it or poll for its exit. Checkpoint half: collectPidfds reads the process each one
 * refers to from /proc/PID/fdinfo (`Pid:`, in cr's PID namespace: the PIDFDS record), once per
 * open file description of the process; it must be a process of the tree being saved (a zombie
 * of it too), else `cr check` refuses it: a restart cannot make a pidfd of a process it does not
 * make, nor of one already reaped (`Pid: -1`). Restart half: restorePidfds opens each again once
 * the tree's processes exist, by a pidfd_open injected in the holder (the restarted PID, which
 * --any-pid may have changed), moved to its saved number, its dups made by dup3. A pidfd that
 * several processes of the tree share is made for each: they no longer share its status flags.
 */
import { FileKind, type FdRecord, type PidfdsRecord } from "@cr/format";
import { FCNTL, OPEN } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { readProcText } from "../process/procfs.js";
import type { FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedPidfd = PidfdsRecord["pidfds"][number];

// ================================================================ checkpoint half

/**
 * The process each pidfd of `files` refers to, through its lowest fd (a dup is a sharer); those
 * the user hands over (`handedOver`) are left out. One of a process outside `members` fails the
 * snapshot, as `cr check` says.
 */
export function collectPidfds(pid: number, files: FdEntry[], shared: SharedFd[], members: ReadonlySet<number>, handedOver: ReadonlySet<number>): SavedPidfd[] {
  return firstOfEachDescription(files, shared, "pidfd")
    .filter((f) => !handedOver.has(f.fd))
    .map((f) => {
      const target = referredPid(pid, f.fd, readProcText(pid, `fdinfo/${f.fd}`));
      const why = unreachable(target, members);
      if (why) throw new CrError(`process ${pid}: ${refusal(f.fd, why)}`, { code: "PIDFD", pid, fd: f.fd });
      return { fd: f.fd, pid: target };
    });
}

/** fdinfo's "Pid: N": the process in the reader's PID namespace; -1 once it was reaped, 0 outside the namespace. */
export function referredPid(pid: number, fd: number, fdinfo: string): number {
  const line = /^Pid:\s*(-?\d+)$/m.exec(fdinfo);
  if (!line) throw new CrError(`unexpected fdinfo of pidfd ${fd} of process ${pid}: "${fdinfo.slice(0, 120)}"`, { code: "EPROTO", pid, fd });
  return Number(line[1]);
}

/** `cr check`: pidfds of a process the restart will not make, but those handed over. */
export function pidfdProblems(pid: number, files: FdEntry[], members: ReadonlySet<number>, handedOver: ReadonlySet<number>): Problem[] {
  return files
    .filter((f) => f.kind === "pidfd" && !handedOver.has(f.fd))
    .flatMap((f) => {
      const why = unreachable(referredPid(pid, f.fd, readProcText(pid, `fdinfo/${f.fd}`)), members);
      return why ? [{ resource: `fd ${f.fd}`, kind: "pidfd", reason: refusal(f.fd, why) }] : [];
    });
}

/** Why a restart cannot make a pidfd of process `target` again; undefined when it can. */
function unreachable(target: number, members: ReadonlySet<number>): string | undefined {
  if (target === -1) return "a process that has exited and was reaped";
  if (target === 0) return "a process outside the PID namespace cr sees";
  return members.has(target) ? undefined : `process ${target}, which is not of the tree being saved`;
}

function refusal(fd: number, why: string): string {
  return `pidfd ${fd} refers to ${why}: a restart cannot make a pidfd of it; close it, or hand it over (cr snapshot --inherit-fd ${fd}, then cr restart --inherit-fd ${fd}:PATH)`;
}

// ================================================================ restart half

/**
 * Opens every saved pidfd of the restored process again, at its number, with its dups
 * (`shared`: fd -> lowest fd of its description), once every process of the tree exists: by
 * pidfd_open injected in the process, of the restarted PID (`pidOf`). FD_CLOEXEC is left clear
 * for restoreFdState to set as saved. A pidfd handed over at the checkpoint needs --inherit-fd.
 */
export function restorePidfds(remote: Remote, pidfds: SavedPidfd[], files: FdRecord[], shared: ReadonlyMap<number, number>, inherited: ReadonlyMap<number, string>, pidOf: (saved: number) => number): void {
  const saved = new Map(pidfds.map((p) => [p.fd, p]));
  const own = files.filter((f) => f.kind === FileKind.PIDFD && !inherited.has(f.fd));
  const orphan = own.find((f) => !saved.has(shared.get(f.fd) ?? f.fd));
  if (orphan) throw new CrError(`fd ${orphan.fd} was a pidfd handed over at the checkpoint (--inherit-fd): restart with --inherit-fd ${orphan.fd}:PATH to give it a file`, { code: "INHERIT_NEEDED", fd: orphan.fd, step: "restore pidfds" });
  for (const f of own.filter((f) => saved.has(f.fd))) {
    const target = pidOf(saved.get(f.fd)!.pid);
    const what = `opening pidfd ${f.fd} of process ${target} again`;
    const got = remote.call("pidfd_open", [BigInt(target), BigInt(f.openFlags & OPEN.O_NONBLOCK)], what);
    if (got === BigInt(f.fd)) remote.call("fcntl", [got, BigInt(FCNTL.F_SETFD), 0n], what); // pidfd_open makes it close-on-exec
    else moveTo(remote, got, f.fd, what);
  }
  for (const f of own.filter((f) => !saved.has(f.fd))) remote.call("dup3", [BigInt(shared.get(f.fd)!), BigInt(f.fd), 0n], `duplicating pidfd ${shared.get(f.fd)} to fd ${f.fd}`);
}

function moveTo(remote: Remote, from: bigint, fd: number, what: string): void {
  remote.call("dup3", [from, BigInt(fd), 0n], what);
  remote.call("close", [from], what);
}

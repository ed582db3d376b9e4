/**
 * timerfds: a timer on a clock whose expirations a program reads from a descriptor, with the
 * count of those not read yet (ticks), how it was armed (TFD_TIMER_ABSTIME,
 * TFD_TIMER_CANCEL_ON_SET) and the status flags of its open file description. Checkpoint half:
 * collectTimerfds reads each one from /proc/PID/fdinfo (the TIMERFDS record), once per open file
 * description, after a timerfd_gettime through a descriptor of cr's own: the kernel re-arms a
 * periodic timer that fired only when it is read or asked, and fdinfo alone would show it with
 * one tick and no time left, whatever the expirations since. Restart half: makeTimerfd creates
 * it again in cr on its clock, armed with the time it had left (the time between checkpoint and
 * restart does not count, as for the POSIX timers of timers.ts) and its interval, holding its
 * unread expirations; the stub gets it as it gets every descriptor (files-restore.ts); a dup, or
 * another process of the tree, shares it again (shared-fds.ts). The kernel shows the time left,
 * not the deadline: a timer armed with TFD_TIMER_ABSTIME is armed absolute again at the clock's
 * now + that time, so its flags (TFD_TIMER_CANCEL_ON_SET among them) are as saved.
 */
import type { FdRecord, TimerfdsRecord } from "@cr/format";
import { catchUpTimerfd, createTimerfd, TIMERFD } from "@cr/native";
import { CrError } from "../errors.js";
import { readProcText } from "../process/procfs.js";
import { throughCopy, type FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedTimerfd = TimerfdsRecord["timerfds"][number];

// ================================================================ checkpoint half

/** The clock, times and unread expirations of each timerfd of `files`, through its lowest fd. */
export function collectTimerfds(pid: number, files: FdEntry[], shared: SharedFd[]): SavedTimerfd[] {
  return firstOfEachDescription(files, shared, "timerfd").map((f) => readTimerfd(pid, f.fd));
}

/** Timerfd `fd` of process `pid`, its expirations counted up to now (catchUpTimerfd). */
export function readTimerfd(pid: number, fd: number): SavedTimerfd {
  const fdinfo = throughCopy(pid, fd, (own) => {
    catchUpTimerfd(own);
    return readProcText(process.pid, `fdinfo/${own}`);
  });
  if (fdinfo === undefined) throw new CrError(`timerfd ${fd} of process ${pid} was closed while the process was frozen`, { code: "EBADF", pid, fd });
  return parseTimerfd(pid, fd, fdinfo);
}

/** fdinfo's "clockid", "ticks", "settime flags" (octal), "it_value: (sec, nsec)", "it_interval: (sec, nsec)". */
export function parseTimerfd(pid: number, fd: number, fdinfo: string): SavedTimerfd {
  const m = /^clockid: (\d+)\nticks: (\d+)\nsettime flags: ([0-7]+)\nit_value: \((\d+), (\d+)\)\nit_interval: \((\d+), (\d+)\)$/m.exec(fdinfo);
  if (!m) throw new CrError(`unexpected fdinfo of timerfd ${fd} of process ${pid}: "${fdinfo.slice(0, 160)}"`, { code: "EPROTO", pid, fd });
  const ns = (sec: string, nsec: string) => BigInt(sec) * 1_000_000_000n + BigInt(nsec);
  return { fd, clockid: Number(m[1]), settimeFlags: parseInt(m[3]!, 8), ticks: BigInt(m[2]!), valueNs: ns(m[4]!, m[5]!), intervalNs: ns(m[6]!, m[7]!) };
}

// ================================================================ restart half

/** The timerfd of descriptor `fd`, made again in cr: armed with the time it had left, its interval, its unread expirations and status flags. */
export function makeTimerfd(fd: FdRecord, timerfd: SavedTimerfd): number {
  // A periodic timer that fired between the catch-up and the fdinfo read shows no time left and
  // that expiration in its ticks: the next one is a period on (armed with 0, it would stop). One
  // with no time left and no ticks is disarmed: settime keeps the interval it is given, and
  // fdinfo shows it.
  const firing = timerfd.valueNs === 0n && timerfd.ticks > 0n;
  const valueNs = firing ? timerfd.intervalNs : timerfd.valueNs;
  const { clockid, settimeFlags, intervalNs, ticks } = timerfd;
  return createTimerfd({ clockid, flags: fd.openFlags & TIMERFD.TFD_NONBLOCK, settimeFlags, valueNs, intervalNs, ticks });
}

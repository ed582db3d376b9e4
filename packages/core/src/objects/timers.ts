/**
 * Timers (TIMERS record): the three interval timers (setitimer) and the POSIX timers
 * (timer_create). /proc/PID/timers lists the POSIX timers (ID, signal and value, notification,
 * clock); their times, like the interval timers', are read by injected syscalls in the frozen
 * process. A restart recreates each POSIX timer under its ID (PR_TIMER_CREATE_RESTORE_IDS)
 * and arms every timer with the time it had left, which the kernel keeps within the interval.
 */
import { cpuClockPid, PRCTL, readMemory, SIGNALS, STRUCTS, TIMERS } from "@cr/native";
import type { ItimerRecord, PosixTimerRecord, TimersRecord } from "@cr/format";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import { SCRATCH, type Queries, type Remote } from "../process/inject.js";
import { procPath, readProcText } from "../process/procfs.js";

const { ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF, SIGEV_THREAD_ID } = TIMERS;
const ITIMERS = [ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF];
/**
 * A CPU-time clock is negative: ~pid << 3, CPUCLOCK_PERTHREAD_MASK for a thread's, 0-2 the kind.
 * pid 0 is the caller: CLOCK_PROCESS_CPUTIME_ID's timers show -6, CLOCK_THREAD_CPUTIME_ID's -2
 * (of the creating thread).
 */
const isThreadClock = (clock: number) => (clock & TIMERS.CPUCLOCK_PERTHREAD_MASK) !== 0;
/** /proc/PID/timers "notify:" words, and the sigev_notify each stands for. */
const NOTIFY = new Map([
  ["signal", TIMERS.SIGEV_SIGNAL],
  ["none", TIMERS.SIGEV_NONE],
  ["thread", TIMERS.SIGEV_THREAD],
]);
const { PR_TIMER_CREATE_RESTORE_IDS } = PRCTL;
const { itimerval, itimerspec, timeval, timespec, sigevent, siginfo_t } = STRUCTS;

/** A POSIX timer as /proc/PID/timers shows it (no times). */
type ListedTimer = Omit<PosixTimerRecord, "intervalNs" | "valueNs">;

export function readPosixTimers(pid: number): ListedTimer[] {
  return parsePosixTimers(readProcText(pid, "timers"), pid);
}

/** Parses /proc/PID/timers: blocks of "ID:", "signal: SIG/VALUE", "notify: HOW/pid.N|tid.N", "ClockID:". */
export function parsePosixTimers(text: string, pid: number): ListedTimer[] {
  const timers: ListedTimer[] = [];
  for (const block of text.split(/^(?=ID: )/m).filter((b) => b.trim() !== "")) {
    const m = /^ID: (-?\d+)\nsignal: (\d+)\/(?:0x)?([0-9a-f]+)\nnotify: (\w+)\/(pid|tid)\.(\d+)\nClockID: (-?\d+)/.exec(block);
    const notify: number | undefined = m ? NOTIFY.get(m[4]!) : undefined;
    if (!m || notify === undefined) {
      const path = procPath(pid, "timers");
      throw new CrError(`cannot parse ${path}: "${block.slice(0, 80)}"`, { code: "EPROTO", pid, path });
    }
    const byTid = m[5] === "tid";
    timers.push({ id: Number(m[1]), signal: Number(m[2]), value: BigInt(`0x${m[3]}`), notify: notify | (byTid ? SIGEV_THREAD_ID : 0), tid: byTid ? Number(m[6]) : 0, clock: Number(m[7]) });
  }
  return timers.sort((a, b) => a.id - b.id);
}

/** `cr check`: timers on a clock the restart cannot give back. */
export function timerProblems(pid: number, threads: number): Problem[] {
  return clockProblems(readPosixTimers(pid), threads);
}

export function clockProblems(timers: ListedTimer[], threads: number): Problem[] {
  return timers.flatMap((t) => {
    const problem = (why: string): Problem[] => [{ resource: `POSIX timer ${t.id}`, kind: "posix-timer", reason: `POSIX timer ${t.id} ${why}: cr cannot restore it; delete it (timer_delete) before the checkpoint` }];
    if (t.clock >= 0) return [];
    if (cpuClockPid(t.clock) !== 0) return problem(`counts the CPU time of process or thread ${cpuClockPid(t.clock)} (clock ${t.clock})`);
    if (isThreadClock(t.clock) && threads > 1) return problem("counts the CPU time of the thread that created it, one of several");
    return [];
  });
}

/**
 * Checkpoint half: the timers' times are asked of the frozen process (`queries`), and with them
 * the POSIX timers' overrun counts (timer_getoverrun: the expiries the last delivered signal
 * stood for). No call sets one, so a nonzero count is a warning: the restarted timer reads 0
 * until its signal is next delivered.
 */
export function askTimers(queries: Queries): () => { timers: TimersRecord; warnings: string[] } {
  const itimers = ITIMERS.map((which) => ({ which, time: queries.ask("getitimer", [BigInt(which), SCRATCH], `getitimer(${which})`, itimerval.size) }));
  const posix = readPosixTimers(queries.pid).map((t) => ({
    t,
    time: queries.ask("timer_gettime", [BigInt(t.id), SCRATCH], `timer_gettime(${t.id})`, itimerspec.size),
    overrun: queries.ask("timer_getoverrun", [BigInt(t.id)], `timer_getoverrun(${t.id})`),
  }));
  return () => ({
    timers: {
      itimers: itimers.map(({ which, time }): ItimerRecord => ({ which, intervalUs: micros(time.out, itimerval.it_interval), valueUs: micros(time.out, itimerval.it_value) })),
      posix: posix.map(({ t, time }): PosixTimerRecord => ({ ...t, intervalNs: nanos(time.out, itimerspec.it_interval), valueNs: nanos(time.out, itimerspec.it_value) })),
    },
    warnings: posix.flatMap(({ t, overrun }) =>
      overrun.result === 0n ? [] : [`POSIX timer ${t.id} has an overrun count of ${overrun.result} (timer_getoverrun), which no call can set: after a restart it reads 0 until the timer's signal is next delivered`],
    ),
  });
}

function readRemote(pid: number, address: bigint, size: number): Buffer {
  const out = Buffer.alloc(size);
  readMemory(pid, new BigUint64Array([address, BigInt(size)]), out);
  return out;
}

/** The struct timeval at byte `at` of `raw`, in microseconds. */
function micros(raw: Buffer, at: number): bigint {
  return raw.readBigUInt64LE(at + timeval.tv_sec) * 1_000_000n + raw.readBigUInt64LE(at + timeval.tv_usec);
}

/** The struct timespec at byte `at` of `raw`, in nanoseconds. */
function nanos(raw: Buffer, at: number): bigint {
  return raw.readBigUInt64LE(at + timespec.tv_sec) * 1_000_000_000n + raw.readBigUInt64LE(at + timespec.tv_nsec);
}

// ================================================================ restart half

/** The POSIX timer whose pending signal `info` (a siginfo) is, if it is one of `saved`'s. */
function timerOf(info: Uint8Array, saved: TimersRecord | undefined): number | undefined {
  const raw = Buffer.from(info.buffer, info.byteOffset, info.byteLength);
  if (raw.readInt32LE(siginfo_t.si_code) !== SIGNALS.SI_TIMER) return undefined;
  const id = raw.readInt32LE(siginfo_t.si_timerid);
  return saved?.posix.some((t) => t.id === id) ? id : undefined;
}

/**
 * The pending signals a restart queues again, less those of POSIX timers it recreates: such a
 * signal is the timer's own (the kernel re-arms a periodic timer only when it is taken), so the
 * timer fires again at once to queue it (restoreTimers) instead of a copy beside it.
 */
export function notFromTimers(pending: Uint8Array[], saved: TimersRecord | undefined): Uint8Array[] {
  return pending.filter((info) => timerOf(info, saved) === undefined);
}

/**
 * POSIX timers under their IDs, then every timer armed with the time it had left (the time
 * between checkpoint and restart does not count). A timer whose signal was pending is armed to
 * fire at once, which queues that signal again and leaves the timer waiting for it to be taken,
 * as it was. `pending` is every pending siginfo of the image; `tids` maps each saved thread ID
 * to the restarted one (SIGEV_THREAD_ID).
 */
export function restoreTimers(remote: Remote, saved: TimersRecord | undefined, pending: Uint8Array[], tids: Map<number, number>): void {
  if (!saved) return; // an image from before the record: nothing was saved
  if (saved.posix.length > 0) {
    remote.call("prctl", [PR_TIMER_CREATE_RESTORE_IDS, 1n, 0n, 0n, 0n], "creating POSIX timers under their IDs (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15+)");
    try {
      for (const t of saved.posix) createTimer(remote, t, tids);
    } finally {
      remote.call("prctl", [PR_TIMER_CREATE_RESTORE_IDS, 0n, 0n, 0n, 0n], "ending PR_TIMER_CREATE_RESTORE_IDS");
    }
  }
  const signalled = new Set(pending.map((info) => timerOf(info, saved)));
  for (const t of saved.posix) {
    const valueNs = signalled.has(t.id) ? 1n : t.valueNs;
    if (t.intervalNs === 0n && valueNs === 0n) continue;
    remote.call("timer_settime", [BigInt(t.id), 0n, remote.put(timespecs(t.intervalNs, valueNs, 1_000_000_000n)), 0n], `arming POSIX timer ${t.id}`);
  }
  for (const t of saved.itimers) {
    if (t.intervalUs !== 0n || t.valueUs !== 0n) setItimer(remote, t);
  }
}

/**
 * setitimer. An ITIMER_REAL with an interval and no time left has fired and waits for its
 * SIGALRM to be taken (the kernel re-arms it then); setitimer cannot say so (no time left
 * disarms it and drops the interval): it is armed to fire at once, into the SIGALRM already
 * queued again, which leaves it waiting the same way. The kernel adds a tick to the time left
 * of a CPU-time timer (ITIMER_VIRTUAL, ITIMER_PROF) as it is set, which the saved time already
 * had: read back, set again without it.
 */
function setItimer(remote: Remote, t: ItimerRecord): void {
  const set = (valueUs: bigint) => remote.call("setitimer", [BigInt(t.which), remote.put(timespecs(t.intervalUs, valueUs, 1_000_000n)), 0n], `arming interval timer ${t.which}`);
  if (t.which === ITIMER_REAL) return void set(t.valueUs === 0n ? 1n : t.valueUs);
  set(t.valueUs);
  if (t.valueUs === 0n) return;
  const at = remote.put(Buffer.alloc(itimerval.size));
  remote.call("getitimer", [BigInt(t.which), at], `reading interval timer ${t.which} back`);
  const excess = micros(readRemote(remote.pid, at, itimerval.size), itimerval.it_value) - t.valueUs;
  if (excess > 0n && excess < t.valueUs) set(t.valueUs - excess);
}

/** timer_create with the saved sigevent; the ID goes in through the ID pointer. */
function createTimer(remote: Remote, t: PosixTimerRecord, tids: Map<number, number>): void {
  const event = Buffer.alloc(sigevent.size);
  event.writeBigUInt64LE(t.value, sigevent.sigev_value);
  event.writeInt32LE(t.signal, sigevent.sigev_signo);
  event.writeInt32LE(t.notify, sigevent.sigev_notify);
  event.writeInt32LE(t.tid === 0 ? 0 : (tids.get(t.tid) ?? t.tid), sigevent.sigev_notify_thread_id);
  const id = Buffer.alloc(4);
  id.writeInt32LE(t.id, 0);
  const idAt = remote.put(id, 128);
  remote.call("timer_create", [BigInt(t.clock), remote.put(event), idAt], `recreating POSIX timer ${t.id} (clock ${t.clock})`);
}

/**
 * struct itimerspec / itimerval: interval then value, each {seconds, fraction} (a timespec's
 * nanoseconds or a timeval's microseconds, at the same place).
 */
function timespecs(interval: bigint, value: bigint, perSecond: bigint): Buffer {
  const raw = Buffer.alloc(itimerspec.size);
  for (const [at, time] of [[itimerspec.it_interval, interval], [itimerspec.it_value, value]] as const) {
    raw.writeBigUInt64LE(time / perSecond, at + timespec.tv_sec);
    raw.writeBigUInt64LE(time % perSecond, at + timespec.tv_nsec);
  }
  return raw;
}

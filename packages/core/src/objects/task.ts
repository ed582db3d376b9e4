/**
 * The process-wide state a restart needs that procfs offers: ids, credentials, capabilities,
 * signal masks, the mm layout fields of PR_SET_MM_MAP, auxv, cmdline, exe, cwd, personality,
 * rlimits and the thread list. Read-only: nothing in the target is touched.
 *
 * Not available from procfs (the snapshot engine gets them by injected syscalls or ptrace):
 * the current brk, signal handlers, sigaltstack, the tid address, itimers, rseq and robust-list
 * registration, registers.
 */
import { OPEN, PRCTL, PROCESS, readMemory, RLIMIT, STRUCTS } from "@cr/native";
import type { ProcessRecord } from "@cr/format";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import type { Problem } from "../check.js";
import {
  commOf,
  listProcDir,
  parseKeyValues,
  procPath,
  readProcBytes,
  readProcLink,
  readProcText,
  requireKey,
  requireProcess,
} from "../process/procfs.js";

/** The fields of /proc/PID/stat that cr uses (field numbers as in proc_pid_stat(5)). */
export interface ProcStat {
  pid: number;
  comm: string;
  /** (3) R, S, D, T, t, Z, X, I ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** (7) the controlling terminal, as st_rdev encodes a device (0: none). */
  ttyNr: bigint;
  /** (8) the foreground process group of that terminal (-1: none). */
  tpgid: number;
  /** (9) PF_* flags of the main thread. */
  flags: number;
  /** (11) + (13): page faults of the children it reaped with wait: it grows with every such child (a child that ran at all faulted). */
  childFaults: bigint;
  numThreads: number;
  /** (22) start time in clock ticks since boot: with the pid, identifies the process across reads. */
  startTime: bigint;
  startCode: bigint;
  endCode: bigint;
  startStack: bigint;
  startData: bigint;
  endData: bigint;
  startBrk: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
  exitCode: number;
}

/** The layout fields PR_SET_MM_MAP needs, but brk, which procfs does not show (an injected brk(0) does). */
export interface ProcessMm {
  startCode: bigint;
  endCode: bigint;
  startData: bigint;
  endData: bigint;
  startBrk: bigint;
  startStack: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
}

export interface IdQuad {
  real: number;
  effective: number;
  saved: number;
  fs: number;
}

export interface Credentials {
  uid: IdQuad;
  gid: IdQuad;
  groups: number[];
}

export interface Capabilities {
  inheritable: bigint;
  permitted: bigint;
  effective: bigint;
  bounding: bigint;
  ambient: bigint;
}

export interface SignalMasks {
  /** SigBlk of the main thread (each thread has its own; see /proc/PID/task/TID/status). */
  blocked: bigint;
  ignored: bigint;
  caught: bigint;
  /** Signals pending for the whole process (ShdPnd). */
  sharedPending: bigint;
}

export interface Rlimit {
  cur: bigint;
  max: bigint;
}

/** The resources of /proc/PID/limits with their RLIMIT_* numbers, in kernel order. */
export const RLIMIT_RESOURCES = {
  cpu: { number: RLIMIT.RLIMIT_CPU, label: "Max cpu time" },
  fsize: { number: RLIMIT.RLIMIT_FSIZE, label: "Max file size" },
  data: { number: RLIMIT.RLIMIT_DATA, label: "Max data size" },
  stack: { number: RLIMIT.RLIMIT_STACK, label: "Max stack size" },
  core: { number: RLIMIT.RLIMIT_CORE, label: "Max core file size" },
  rss: { number: RLIMIT.RLIMIT_RSS, label: "Max resident set" },
  nproc: { number: RLIMIT.RLIMIT_NPROC, label: "Max processes" },
  nofile: { number: RLIMIT.RLIMIT_NOFILE, label: "Max open files" },
  memlock: { number: RLIMIT.RLIMIT_MEMLOCK, label: "Max locked memory" },
  as: { number: RLIMIT.RLIMIT_AS, label: "Max address space" },
  locks: { number: RLIMIT.RLIMIT_LOCKS, label: "Max file locks" },
  sigpending: { number: RLIMIT.RLIMIT_SIGPENDING, label: "Max pending signals" },
  msgqueue: { number: RLIMIT.RLIMIT_MSGQUEUE, label: "Max msgqueue size" },
  nice: { number: RLIMIT.RLIMIT_NICE, label: "Max nice priority" },
  rtprio: { number: RLIMIT.RLIMIT_RTPRIO, label: "Max realtime priority" },
  rttime: { number: RLIMIT.RLIMIT_RTTIME, label: "Max realtime timeout" },
} as const;

export type RlimitResource = keyof typeof RLIMIT_RESOURCES;
export type Rlimits = Record<RlimitResource, Rlimit>;

export interface ProcessInfo {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  startTime: bigint;
  exitCode: number;
  mm: ProcessMm;
  creds: Credentials;
  caps: Capabilities;
  signals: SignalMasks;
  umask: number;
  /** 0 when not traced. */
  tracerPid: number;
  noNewPrivs: boolean;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number;
  /** Raw /proc/PID/auxv (pairs of native-endian 64-bit words, ending with AT_NULL). */
  auxv: Buffer;
  /** Raw /proc/PID/cmdline (NUL-separated). */
  cmdline: Buffer;
  exe: string;
  cwd: string;
  root: string;
  personality: number;
  rlimits: Rlimits;
  /** Thread ids from /proc/PID/task, ascending; the first is usually `pid`. */
  threads: number[];
}

/** Parses /proc/PID/stat. The comm is taken between the first "(" and the last ")". */
export function readStat(pid: number): ProcStat {
  const text = readProcText(pid, "stat");
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).trim().split(" ");
  // rest[0] is field 3 (state): field N is rest[N - 3].
  if (open < 0 || close < open || rest.length < 50) {
    const path = procPath(pid, "stat");
    throw new CrError(`cannot parse ${path}: "${text.slice(0, 80)}"`, { code: "EPROTO", pid, path });
  }
  const field = (n: number): string => rest[n - 3]!;
  const big = (n: number): bigint => BigInt(field(n));
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: field(3),
    ppid: Number(field(4)),
    pgrp: Number(field(5)),
    session: Number(field(6)),
    ttyNr: big(7),
    tpgid: Number(field(8)),
    flags: Number(field(9)),
    childFaults: big(11) + big(13),
    numThreads: Number(field(20)),
    startTime: big(22),
    startCode: big(26),
    endCode: big(27),
    startStack: big(28),
    startData: big(45),
    endData: big(46),
    startBrk: big(47),
    argStart: big(48),
    argEnd: big(49),
    envStart: big(50),
    envEnd: big(51),
    exitCode: Number(field(52)),
  };
}

/** A kernel thread has no user address space: nothing to checkpoint. */
export function isKernelThread(stat: ProcStat): boolean {
  return (stat.flags & PROCESS.PF_KTHREAD) !== 0;
}

/** A zombie (Z) or dead (X) process has exited and only waits to be reaped. */
export function isZombie(stat: ProcStat): boolean {
  return stat.state === "Z" || stat.state === "X";
}

/** readStat, or undefined once the process is gone (exited and reaped, or exiting while read). */
export function statIfExists(pid: number): ProcStat | undefined {
  try {
    return readStat(pid);
  } catch (error) {
    if (error instanceof CrError && (error.code === "ESRCH" || error.code === "ENOENT")) return undefined;
    throw error;
  }
}

/**
 * Everything procfs tells about `pid` that a restart needs. Fails with CrError ESRCH when there
 * is no such process, and with "UNSUPPORTED" for a zombie or a kernel thread (neither has an
 * address space to save).
 */
export function collectProcess(pid: number): ProcessInfo {
  requireProcess(pid);
  const stat = readStat(pid);
  if (isKernelThread(stat)) {
    throw new CrError(`process ${pid} (${stat.comm}) is a kernel thread: it has no user memory to checkpoint`, {
      code: "UNSUPPORTED",
      pid,
      path: procPath(pid, "stat"),
    });
  }
  if (isZombie(stat)) {
    throw new CrError(`process ${pid} (${stat.comm}) is a zombie: it has exited and waits for its parent to reap it`, {
      code: "UNSUPPORTED",
      pid,
      path: procPath(pid, "stat"),
    });
  }
  const status = parseKeyValues(readProcText(pid, "status"));
  const get = (key: string): string => requireKey(status, key, pid, "status");
  return {
    pid,
    comm: readProcText(pid, "comm").replace(/\n$/, ""),
    state: stat.state,
    ppid: stat.ppid,
    pgrp: stat.pgrp,
    session: stat.session,
    startTime: stat.startTime,
    exitCode: stat.exitCode,
    mm: readMm(stat),
    creds: {
      uid: idQuad(get("Uid")),
      gid: idQuad(get("Gid")),
      groups: get("Groups").split(/\s+/).filter((s) => s !== "").map(Number),
    },
    caps: {
      inheritable: hex(get("CapInh")),
      permitted: hex(get("CapPrm")),
      effective: hex(get("CapEff")),
      bounding: hex(get("CapBnd")),
      ambient: hex(get("CapAmb")),
    },
    signals: {
      blocked: hex(get("SigBlk")),
      ignored: hex(get("SigIgn")),
      caught: hex(get("SigCgt")),
      sharedPending: hex(get("ShdPnd")),
    },
    umask: parseInt(get("Umask"), 8),
    tracerPid: Number(get("TracerPid")),
    noNewPrivs: get("NoNewPrivs") === "1",
    seccomp: Number(get("Seccomp")),
    auxv: readProcBytes(pid, "auxv"),
    cmdline: readProcBytes(pid, "cmdline"),
    exe: readProcLink(pid, "exe"),
    cwd: readProcLink(pid, "cwd"),
    root: readProcLink(pid, "root"),
    personality: parseInt(readProcText(pid, "personality").trim(), 16),
    rlimits: readLimits(pid),
    threads: readThreads(pid),
  };
}

function readMm(stat: ProcStat): ProcessMm {
  return {
    startCode: stat.startCode,
    endCode: stat.endCode,
    startData: stat.startData,
    endData: stat.endData,
    startBrk: stat.startBrk,
    startStack: stat.startStack,
    argStart: stat.argStart,
    argEnd: stat.argEnd,
    envStart: stat.envStart,
    envEnd: stat.envEnd,
  };
}

function idQuad(value: string): IdQuad {
  const [real, effective, saved, fs] = value.split(/\s+/).map(Number);
  return { real: real!, effective: effective!, saved: saved!, fs: fs! };
}

function hex(value: string): bigint {
  return BigInt(`0x${value}`);
}

/** Every rlimit of /proc/PID/limits; "unlimited" is RLIM_INFINITY. */
export function readLimits(pid: number): Rlimits {
  const lines = readProcText(pid, "limits").split("\n");
  const out: Partial<Rlimits> = {};
  for (const [resource, { label }] of Object.entries(RLIMIT_RESOURCES) as [RlimitResource, { label: string }][]) {
    const line = lines.find((l) => l.startsWith(`${label} `));
    const values = line?.slice(label.length).trim().split(/\s+/);
    if (values === undefined || values.length < 2) {
      const path = procPath(pid, "limits");
      throw new CrError(`${path} has no "${label}" line (unexpected kernel format)`, { code: "EPROTO", pid, path });
    }
    out[resource] = { cur: limitValue(values[0]!), max: limitValue(values[1]!) };
  }
  return out as Rlimits;
}

function limitValue(text: string): bigint {
  return text === "unlimited" ? RLIMIT.RLIM_INFINITY : BigInt(text);
}

/** Thread ids of `pid`, ascending. */
export function readThreads(pid: number): number[] {
  return listProcDir(pid, "task")
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * A process has one tracer at most and cr needs to be it. When cr itself is the tracer (the
 * snapshot engine checks a process it has seized) that is no problem.
 */
export function tracerProblems(pid: number): Problem[] {
  const status = parseKeyValues(readProcText(pid, "status"));
  const tracer = Number(requireKey(status, "TracerPid", pid, "status"));
  if (tracer === 0 || tracer === process.pid) return [];
  const name = commOf(tracer) ?? "exited";
  return [
    {
      resource: "process",
      kind: "traced",
      reason: `traced by PID ${tracer} (${name}); a process can have only one tracer and cr needs to ptrace it: detach ${name} first`,
    },
  ];
}

// ================================================================ restart half

/**
 * Process-wide state, restart half: the mm fields behind /proc/PID/cmdline, environ, brk and
 * exe (PR_SET_MM_MAP), umask, personality, resource limits and credentials, each set inside
 * the rebuilt process by injected syscalls. What cannot be restored (raising a hard limit
 * without CAP_SYS_RESOURCE) is returned as a warning, not guessed at.
 */

const AUXV_AT = 512; // auxv goes after the struct in the scratch area

/** PR_SET_MM_MAP: code/data/brk/stack/arg/env bounds, auxv and the exe link in one call. */
export function restoreMmMap(remote: Remote, saved: ProcessRecord): void {
  const { AT_FDCWD, O_CLOEXEC } = OPEN;
  const exeFd = remote.call("openat", [AT_FDCWD, remote.putString(saved.exePath, 1024), BigInt(O_CLOEXEC), 0n], `opening the executable ${saved.exePath}`);
  try {
    const auxv = Buffer.from(saved.auxv);
    const layout = STRUCTS.prctl_mm_map;
    const map = Buffer.alloc(layout.size);
    const fields: [offset: number, value: bigint][] = [
      [layout.start_code, saved.startCode],
      [layout.end_code, saved.endCode],
      [layout.start_data, saved.startData],
      [layout.end_data, saved.endData],
      [layout.start_brk, saved.startBrk],
      [layout.brk, saved.brk],
      [layout.start_stack, saved.startStack],
      [layout.arg_start, saved.argStart],
      [layout.arg_end, saved.argEnd],
      [layout.env_start, saved.envStart],
      [layout.env_end, saved.envEnd],
      [layout.auxv, remote.put(auxv, AUXV_AT)],
    ];
    for (const [offset, value] of fields) map.writeBigUInt64LE(value, offset);
    map.writeUInt32LE(auxv.length, layout.auxv_size);
    map.writeUInt32LE(Number(exeFd), layout.exe_fd);
    remote.call("prctl", [PRCTL.PR_SET_MM, PRCTL.PR_SET_MM_MAP, remote.put(map), BigInt(layout.size), 0n], "PR_SET_MM_MAP (brk, cmdline, exe)");
  } finally {
    remote.call("close", [exeFd], "closing the executable");
  }
}

export function restoreUmaskAndPersonality(remote: Remote, saved: ProcessRecord): void {
  remote.call("umask", [BigInt(saved.umask)], "restoring the umask");
  remote.call("personality", [BigInt(saved.personality)], "restoring the personality");
}

/**
 * Every rlimit as saved. A hard limit above the current one needs CAP_SYS_RESOURCE: then the
 * soft limit is set as far as the current hard limit allows, and a warning says so.
 */
export function restoreLimits(remote: Remote, saved: ProcessRecord): string[] {
  const { rlimit64 } = STRUCTS;
  const warnings: string[] = [];
  for (const limit of saved.rlimits) {
    const value = Buffer.alloc(rlimit64.size);
    value.writeBigUInt64LE(limit.cur, rlimit64.rlim_cur);
    value.writeBigUInt64LE(limit.max, rlimit64.rlim_max);
    const what = `restoring rlimit ${limit.resource}`;
    const ret = remote.call("prlimit64", [0n, BigInt(limit.resource), remote.put(value), 0n], what, ["EPERM"]);
    if (ret >= 0n) continue;
    const current = Buffer.alloc(rlimit64.size);
    const at = remote.put(current, rlimit64.size);
    remote.call("prlimit64", [0n, BigInt(limit.resource), 0n, at], what);
    const hard = readRemoteU64(remote, at + BigInt(rlimit64.rlim_max));
    const soft = limit.cur < hard ? limit.cur : hard;
    value.writeBigUInt64LE(soft, rlimit64.rlim_cur);
    value.writeBigUInt64LE(hard, rlimit64.rlim_max);
    remote.call("prlimit64", [0n, BigInt(limit.resource), remote.put(value), 0n], what);
    warnings.push(`rlimit ${limitName(limit.resource)}: hard limit ${limit.max} not restored (raising it needs CAP_SYS_RESOURCE); it stays ${hard}`);
  }
  return warnings;
}

function readRemoteU64(remote: Remote, address: bigint): bigint {
  const out = Buffer.alloc(8);
  readMemory(remote.pid, new BigUint64Array([address, 8n]), out);
  return out.readBigUInt64LE(0);
}

function limitName(resource: number): string {
  return Object.entries(RLIMIT_RESOURCES).find(([, r]) => r.number === resource)?.[0] ?? String(resource);
}

/**
 * Groups, gids, then uids (after which a thread may no longer change them), each only when it
 * differs from the stub's (cr's): a process of root stays as it is. In every thread of `tids`:
 * the raw syscalls change the calling thread's credentials alone (glibc's wrappers signal each
 * thread). Capabilities other than a uid change's effect are not restored; a warning says so.
 */
export function restoreCredentials(remote: Remote, saved: ProcessRecord, tids: number[]): string[] {
  const mine = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groups: ownGroups() };
  const groupsDiffer = saved.groups.join() !== mine.groups.join();
  const same = [saved.uid, saved.euid, saved.suid, saved.fsuid].every((u) => u === mine.uid) && [saved.gid, saved.egid, saved.sgid, saved.fsgid].every((g) => g === mine.gid);
  for (const thread of tids.map((tid) => remote.thread(tid))) {
    if (groupsDiffer) {
      const groups = Buffer.alloc(4 * saved.groups.length);
      saved.groups.forEach((g, i) => groups.writeUInt32LE(g, 4 * i));
      thread.call("setgroups", [BigInt(saved.groups.length), thread.put(groups)], "restoring supplementary groups");
    }
    if (same) continue;
    thread.call("setresgid", [BigInt(saved.gid), BigInt(saved.egid), BigInt(saved.sgid)], "restoring gids");
    thread.call("setresuid", [BigInt(saved.uid), BigInt(saved.euid), BigInt(saved.suid)], "restoring uids");
  }
  return same ? [] : [`credentials set to uid ${saved.euid} gid ${saved.egid}; capabilities are those that uid gets, not the saved sets`];
}

/** cr's supplementary groups as the kernel holds them (Node's getgroups adds the egid). */
function ownGroups(): number[] {
  const status = parseKeyValues(readProcText(process.pid, "status"));
  return requireKey(status, "Groups", process.pid, "status").split(/\s+/).filter((s) => s !== "").map(Number);
}

/** /proc/PID/comm: the stub's exec named it "restore-stub". Threads cloned later inherit it. */
export function restoreComm(remote: Remote, saved: ProcessRecord): void {
  const comm = saved.comm.slice(0, PROCESS.TASK_COMM_LEN - 1);
  remote.call("prctl", [PRCTL.PR_SET_NAME, remote.putString(comm), 0n, 0n, 0n], "restoring the command name");
}

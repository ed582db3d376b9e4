/**
 * Restart a process from a checkpoint, exactly where it stopped (docs/restart.md).
 *
 * Everything that can be checked is checked before anything is built: the image chain
 * (records, page map, every REF), the files it maps or has open, the PID. Then a stub is
 * started with the saved PID and its descriptors in place, and rebuilt into the process by
 * syscalls injected through a trampoline: memory, process-wide state, threads, and last the
 * registers. A failure at any step kills the half-built process and names the step.
 */
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { FormatError, resolveChain, type FdRecord, type FileLockRecord, type ResolvedChain, type ImageReader, type MemoryAttrsRecord, type ProcessAttrsRecord, type ProcessRecord, type SeccompRecord, type TimersRecord, type SignalsRecord, type ThreadRecord, type VmaRecord } from "@cr/format";
import { killTraced, NativeError, placeTrampolineAt, probeKernel, releaseRestored, RESTORE_STUB, scratch, spawnStub, waitExit } from "@cr/native";
import { restoreAttrs, restoreLateAttrs } from "./objects/attrs.js";
import { restoreOwners, type FdOwner } from "./objects/fd-owners.js";
import { CrError } from "./errors.js";
import { commOf } from "./process/procfs.js";
import { confirmRestorable, cutBackGrown, openDescriptors, restoreFdState } from "./objects/files-restore.js";
import { Remote } from "./process/inject.js";
import { checkLeasesFree, restoreLocks } from "./objects/locks.js";
import type { PipeBytes, PipeSizes } from "./objects/pipes.js";
import { Recreated, type RemovedFiles } from "./objects/removed.js";
import { clearStub, fillMemory, mapVmas, moveSpecialMappings, protectVmas, trampolineAddress } from "./objects/memory.js";
import { restoreSeccomp } from "./objects/seccomp.js";
import { restoreMappingAttrs } from "./objects/mapping-attrs.js";
import { queueSignal, restoreSignals } from "./objects/signals.js";
import { Store, storeDir } from "./store/store.js";
import { processKey, waitReaped } from "./checkpoint.js";
import type { OnProgress } from "./progress.js";
import { readStat, type ProcStat, restoreComm, restoreCredentials, restoreLimits, restoreMmMap, restoreUmaskAndPersonality } from "./objects/task.js";
import { applyThreadState, cloneThread, restoreRegistrations } from "./objects/threads.js";
import { notFromTimers, restoreTimers } from "./objects/timers.js";
import { chooseTracker } from "./trackers/index.js";
import { armAfterRestart } from "./trackers/write-protect.js";
import { collectVmas } from "./objects/vmas.js";
import { imageCache } from "./store/store-images.js";

export interface RestartOptions {
  crid: bigint;
  store?: string;
  /** The branch to read the chain from; default: the first branch that holds the CRID. */
  branch?: string;
  /** Take any free PID (and TIDs) if the saved ones are taken. */
  anyPid?: boolean;
  /** Restart even if files the image reads changed since the checkpoint. */
  force?: boolean;
  /** Leave output files that grew since the checkpoint as they are (default: cut them back). */
  keepFiles?: boolean;
  /** Substitutes for descriptors: fd number -> path. */
  inheritFds?: Map<number, string>;
  /** Page bytes written into the process, of the total, once per batch (8 MiB). */
  onProgress?: OnProgress;
}

export interface RestartResult {
  pid: number;
  crid: bigint;
  /** From the start of restart() to the process running. */
  restoreMs: number;
  /** What was restored differently from the image, for the user. */
  warnings: string[];
}

/** What the image says, all of it read and checked before anything is built. */
interface Checkpoint {
  /** The identity of the CRID's image: a restarted process's tracker history starts there. */
  identity: bigint;
  process: ProcessRecord;
  vmas: VmaRecord[];
  threads: ThreadRecord[];
  signals: SignalsRecord;
  files: FdRecord[];
  /** Absent in images written before these records. */
  attrs: ProcessAttrsRecord | undefined;
  timers: TimersRecord | undefined;
  seccomp: SeccompRecord | undefined;
  locks: FileLockRecord[];
  /** fd -> the lowest fd of its open file description (SHARED_FDS). */
  shared: Map<number, number>;
  owners: FdOwner[];
  /** Absent from images written before MEMORY_ATTRS existed. */
  memoryAttrs: MemoryAttrsRecord | undefined;
  pipes: PipeBytes;
  pipeSizes: PipeSizes;
  removed: RemovedFiles;
  data: ResolvedChain;
}

export async function restart(options: RestartOptions): Promise<RestartResult> {
  const started = performance.now();
  const { crid } = options;
  const store = Store.open(storeDir(options.store), { create: false });
  const inherit = options.inheritFds ?? new Map<number, string>();
  const { branch, images, image } = await stepAsync(crid, "read the image", () => openCheckpoint(store, crid, options.branch));
  try {
    const objects = { cwd: image.process.cwd, vmas: image.vmas, fds: image.files, removed: image.removed };
    step(crid, "check files", () => checkLeasesFree(image.locks, image.files)); // before any open could break a lease
    const files = step(crid, "check files", () => confirmRestorable(objects, crid, { force: options.force ?? false, keepFiles: options.keepFiles ?? false, inherited: inherit }));
    const warnings = files.warnings;
    const pid = await stepAsync(crid, "check the PID", () => choosePid(store, image, options.anyPid ?? false, warnings));
    const recreated = step(crid, "recreate removed files", () => new Recreated(image.removed, crid));
    const fds = step(crid, "open files", () => {
      try {
        return openDescriptors(image.files, inherit, { shared: image.shared, data: image.pipes, sizes: image.pipeSizes, recreated });
      } catch (error) {
        recreated.release();
        throw error;
      }
    });
    warnings.push(...fds.warnings);
    const tids: number[] = [];
    try {
      tids.push(step(crid, "start the stub", () => spawnStub({ stub: RESTORE_STUB, pid, fds: fds.pairs, cwd: recreated.cwd ?? image.process.cwd })));
      step(crid, "remove recreated files", () => recreated.remove(), tids[0]);
      await rebuild(new Remote(tids[0]!, tids[0]!), image, images.open, inherit, tids, warnings, options);
      // Nothing outside the process changes before this point: a failed restart leaves the program's files as they were.
      step(crid, "cut back grown files", () => warnings.push(...cutBackGrown(files.grown, fds)), tids[0]);
      step(crid, "release the process", () => releaseRestored(tids), tids[0]);
    } catch (error) {
      if (tids.length > 0) killTraced(tids, true); // the stub is cr's own child
      throw error;
    } finally {
      fds.close();
      recreated.release();
    }
    // Snapshots of the restarted process continue this branch, with this CRID as parent.
    step(crid, "record the branch", () => store.continueFrom(branch, processKey(tids[0]!), crid), tids[0]);
    return { pid: tids[0]!, crid, restoreMs: performance.now() - started, warnings };
  } finally {
    images.close();
  }
}

/** Waits for a process restarted without --detach (cr is its parent) to exit. */
export function waitRestarted(pid: number): { code: number | null; signal: number | null } {
  return waitExit(pid);
}

/** The stub becomes the process, stopped: the steps of docs/restart.md, in order. */
async function rebuild(leader: Remote, image: Checkpoint, open: (crid: bigint) => ImageReader, inherit: Map<number, string>, tids: number[], warnings: string[], options: RestartOptions): Promise<void> {
  const { crid, anyPid } = options;
  const pid = leader.pid;
  const s = <T>(name: string, fn: () => T) => step(crid, name, fn, pid);
  const trampoline = s("place the trampoline", () => {
    const at = trampolineAddress(image.vmas, collectVmas(pid));
    placeTrampolineAt(pid, at);
    scratch(pid); // creates it there
    return at;
  });
  s("clear the stub", () => clearStub(leader, trampoline));
  s("move vdso and vvar", () => moveSpecialMappings(leader, image.vmas));
  const added = s("map memory", () => mapVmas(leader, image.vmas));
  await stepAsync(crid, "fill memory", () => fillMemory(pid, image.data, open, image.vmas, options.onProgress), pid);
  s("protect memory", () => protectVmas(leader, added));
  s("restore mapping attributes", () => restoreMappingAttrs(leader, image.vmas, image.memoryAttrs));
  s("restore mm fields", () => restoreMmMap(leader, image.process));
  s("restore process state", () => {
    restoreComm(leader, image.process);
    restoreUmaskAndPersonality(leader, image.process);
    warnings.push(...restoreLimits(leader, image.process));
    restoreFdState(leader, image.files, inherit);
  });
  s("restore file locks", () => warnings.push(...restoreLocks(leader, image.locks, image.files, inherit)));
  s("restore signal handlers", () => restoreSignals(leader, { ...image.signals, sharedPending: notFromTimers(image.signals.sharedPending, image.timers) }));
  const threads = orderThreads(image);
  s("create threads", () => {
    for (const t of threads.slice(1)) tids.push(cloneThread(leader, anyPid ? 0 : t.tid));
  });
  s("restore thread registrations", () =>
    threads.forEach((t, i) => {
      restoreRegistrations(leader.thread(tids[i]!), t);
      for (const info of notFromTimers(t.pendingSignals, image.timers)) queueSignal(leader, info, tids[i]!);
    }),
  );
  const pending = [...image.signals.sharedPending, ...threads.flatMap((t) => t.pendingSignals)];
  const tidOf = new Map(threads.map((t, i) => [t.tid, tids[i]!])); // saved TID -> restarted
  s("restore timers", () => restoreTimers(leader, image.timers, pending, tidOf));
  s("restore fd owners", () => {
    const ids = { saved: { pid: image.process.pid, pgrp: image.process.pgid }, pid, pgrp: readStat(pid).pgrp, tids: tidOf };
    warnings.push(...restoreOwners(leader, image.owners, image.files, inherit, image.shared, ids));
  });
  // As root still: a uffd is created in the target. The trampoline stays, as after a snapshot.
  s("arm write tracking", () => armTracking(pid, image.identity, warnings));
  s("restore process attributes", () => restoreAttrs(leader, image.attrs, tids));
  s("restore credentials", () => warnings.push(...restoreCredentials(leader, image.process, tids)));
  s("restore dumpable and no_new_privs", () => restoreLateAttrs(leader, image.attrs, tidOf));
  s("restore seccomp filters", () => restoreSeccomp(leader, image.seccomp, tids.length)); // the last injected call
  s("restore registers", () => threads.forEach((t, i) => applyThreadState(tids[i]!, t)));
}

/** Arms write tracking where snapshots would use it; a refusal only costs a full next snapshot. */
function armTracking(pid: number, identity: bigint, warnings: string[]): void {
  if (chooseTracker(probeKernel()).name !== "write-protect") return;
  try {
    armAfterRestart(pid, identity, new Set());
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    warnings.push(`write tracking could not be armed (${error.message}): the next snapshot saves every page`);
  }
}

/** The leader (tid = pid) first: the stub is the leader; the others are cloned from it. */
function orderThreads(image: Checkpoint): ThreadRecord[] {
  const leader = image.threads.find((t) => t.tid === image.process.pid);
  if (!leader) throw new CrError(`the image has no thread record for its leader ${image.process.pid}`, { code: "BAD_IMAGE", pid: image.process.pid });
  return [leader, ...image.threads.filter((t) => t !== leader)];
}

/**
 * The checkpoint and the readers of its chain, opened under the store's shared lock: a coalesce
 * cannot swap the branch's images meanwhile, and once open they stay readable after one.
 */
function openCheckpoint(store: Store, crid: bigint, chosen: string | undefined) {
  return store.withLockAsync(async () => {
    const branch = chosen ?? store.branchFor(crid);
    const images = imageCache(store, branch);
    try {
      return { branch, images, image: await readCheckpoint(crid, images.open) };
    } catch (error) {
      images.close();
      throw error;
    }
  }, "shared");
}

async function readCheckpoint(crid: bigint, open: (crid: bigint) => ImageReader): Promise<Checkpoint> {
  const top = open(crid);
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new CrError(`image ${top.path} has no ${what} record`, { code: "BAD_IMAGE", crid, path: top.path });
    return value;
  };
  // Every REF is resolved (and checked) now, before a process exists.
  const data = await resolveChain(crid, open);
  return {
    identity: top.identity,
    process: need(top.record("PROCESS"), "PROCESS"),
    vmas: need(top.record("VMAS"), "VMAS").vmas,
    threads: top.records("THREAD"),
    signals: need(top.record("SIGNALS"), "SIGNALS"),
    files: need(top.record("FILES"), "FILES").fds,
    attrs: top.record("PROCESS_ATTRS"),
    timers: top.record("TIMERS"),
    seccomp: top.record("SECCOMP"),
    locks: top.records("LOCKS").flatMap((r) => r.locks),
    shared: new Map(top.records("SHARED_FDS").flatMap((r) => r.fds.map((s): [number, number] => [s.fd, s.sameAs]))),
    owners: top.records("FD_OWNERS").flatMap((r) => r.owners),
    memoryAttrs: top.record("MEMORY_ATTRS"),
    pipes: top.record("PIPE_DATA")?.pipes ?? [],
    pipeSizes: top.records("PIPE_SIZES").flatMap((r) => r.pipes),
    removed: top.record("REMOVED_FILES")?.files ?? [],
    data,
  };
}

/**
 * The saved PID and TIDs must be free; with anyPid the kernel picks (a warning says so). The
 * checkpointed process itself, killed by `cr snapshot --kill` and not yet reaped, is waited for.
 */
async function choosePid(store: Store, image: Checkpoint, anyPid: boolean, warnings: string[]): Promise<number> {
  const pid = image.process.pid;
  if (!anyPid) await waitOwnZombie(store, pid);
  for (const t of image.threads) {
    if (!existsSync(`/proc/${t.tid}`)) continue;
    const comm = holderOf(store, t.tid);
    if (anyPid) {
      warnings.push(`PID ${t.tid} is taken by ${comm}: the process gets new PID and TIDs (--any-pid)`);
      return 0;
    }
    throw new CrError(`PID ${t.tid} is taken by ${comm} (pass --any-pid to restart under another PID)`, { code: "PID_TAKEN", pid: t.tid });
  }
  return pid;
}

/** A zombie whose incarnation the store has snapshotted: the checkpointed process itself, killed. */
function isOwnZombie(store: Store, stat: ProcStat): boolean {
  return stat.state === "Z" && store.branchOf(`${stat.pid}:${stat.startTime}`) !== undefined;
}

/** Gives the parent of the checkpointed process, killed, the time to reap it (PID 1 takes ~2 s). */
async function waitOwnZombie(store: Store, pid: number): Promise<void> {
  let stat: ProcStat;
  try {
    stat = readStat(pid);
  } catch (error) {
    if (error instanceof CrError && error.code === "ESRCH") return; // free
    throw error;
  }
  if (isOwnZombie(store, stat)) await waitReaped(pid, `${pid}:${stat.startTime}`);
}

/** Who holds a PID, as the user can act on it: a zombie is named with the parent that has not reaped it. */
function holderOf(store: Store, pid: number): string {
  try {
    const stat = readStat(pid);
    if (isOwnZombie(store, stat)) return `the checkpointed process itself, killed but not yet reaped by its parent PID ${stat.ppid} (${commOf(stat.ppid) ?? "exited"})`;
    return stat.state === "Z" ? `${stat.comm}, a zombie (exited, not yet reaped by its parent PID ${stat.ppid})` : stat.comm;
  } catch (error) {
    if (error instanceof CrError && error.code === "ESRCH") return "a process that just exited";
    throw error;
  }
}

/** Runs one step; a failure becomes a CrError naming the step, the CRID and the cause. */
function step<T>(crid: bigint, name: string, fn: () => T, pid?: number): T {
  try {
    return fn();
  } catch (error) {
    throw stepError(crid, name, error, pid);
  }
}

async function stepAsync<T>(crid: bigint, name: string, fn: () => Promise<T>, pid?: number): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw stepError(crid, name, error, pid);
  }
}

function stepError(crid: bigint, name: string, error: unknown, pid?: number): CrError {
  if (error instanceof CrError && error.step === name) return error;
  const known = error instanceof CrError || error instanceof FormatError || error instanceof NativeError;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof CrError || error instanceof NativeError ? error.code : error instanceof FormatError ? "BAD_IMAGE" : "INTERNAL";
  return new CrError(`restart of CRID ${crid} failed at step "${name}": ${known ? message : `internal error: ${message}`}`, {
    code,
    crid,
    step: name,
    ...(pid !== undefined ? { pid } : {}),
    cause: error,
  });
}

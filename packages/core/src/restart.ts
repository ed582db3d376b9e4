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
import { FileKind, FormatError, InetSocketState, MemberState, resolveChain, type FdRecord, type ResolvedChain, type ImageReader, type ImageSection, type TableEntry, type ProcessRecord, type ThreadRecord } from "@cr/format";
import { cloneStub, killTraced, makeZombie, NativeError, placeTrampolineAt, probeKernel, releaseRestored, RESTORE_STUB, scratch, spawnStub, TERMINAL_HOLDER, waitExit } from "@cr/native";
import { spawn } from "node:child_process";
import { restoreAttrs, restoreLateAttrs } from "./objects/attrs.js";
import { restoreEpollWatches } from "./objects/epolls.js";
import { restorePidfds } from "./objects/pidfds.js";
import { restoreOwners } from "./objects/fd-owners.js";
import { CrError } from "./errors.js";
import { commOf } from "./process/procfs.js";
import { confirmRestorable, cutBackGrown, openTreeDescriptors, restoreFdState, type TreeFds } from "./objects/files-restore.js";
import { Remote } from "./process/inject.js";
import { checkLeasesFree, restoreLocks } from "./objects/locks.js";
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
import { SavedContents } from "./objects/file-contents.js";
import { createSharedObjects, liveSharedKeys, objectKey, type RestoredObject } from "./objects/shmem.js";
import { checkShmemFiles, RestoredShmemFiles, restoredObjects } from "./objects/shmem-files.js";
import { checkGhostFiles, RestoredGhostFiles } from "./objects/ghost-files.js";
import { checkSockets, socketsByInode } from "./objects/unix-sockets.js";
import { readSection, type ProcessSection, type SectionRecords } from "./objects/index.js";
import { checkTerminals, onShellTerminal, shellTerminal, ShellJob } from "./objects/terminals.js";
import { restoreControllingTerminal, TreePtys } from "./objects/pty-pairs.js";
import { unlockConnections } from "./objects/tcp-connections.js";

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
  /** Run the program on cr's terminal, as a job of the shell cr runs in (objects/terminals.ts). */
  shellJob?: boolean;
  /** cr returns while the process runs: a program that ran on a terminal is put on a new one, held for `cr attach` (pty-pairs.ts). */
  detach?: boolean;
  /** Page bytes written into the process, of the total, once per batch (8 MiB). */
  onProgress?: OnProgress;
}

export interface RestartResult {
  /** The root of the restarted tree (the process itself, for an image of one process). */
  pid: number;
  crid: bigint;
  /** The processes restarted, zombies included. */
  processes: number;
  /** From the start of restart() to the process running. */
  restoreMs: number;
  /** What was restored differently from the image, for the user. */
  warnings: string[];
  /** With shellJob: cr's terminal, lent to the program; detach() when it ends. */
  job?: ShellJob;
  /** With detach: the program runs on a new terminal, which `cr attach PID` reaches. */
  onNewTerminal?: boolean;
}

/** What the image says of one running process, all of it read and checked before anything is built. */
interface Checkpoint extends ProcessSection {
  /** The identity of the CRID's image: a restarted process's tracker history starts there. */
  identity: bigint;
  data: ResolvedChain;
}

/** The image's tree: its running processes (parents first) and every process as the table lists it. */
interface TreeCheckpoint {
  running: Checkpoint[];
  /** PROCESS_TABLE's entries; for an image of one process, one made from its PROCESS record. */
  table: TableEntry[];
}

export async function restart(options: RestartOptions): Promise<RestartResult> {
  const started = performance.now();
  const { crid } = options;
  const store = Store.open(storeDir(options.store), { create: false });
  const inherit = options.inheritFds ?? new Map<number, string>();
  const { branch, images, tree } = await stepAsync(crid, "read the image", () => openCheckpoint(store, crid, options.branch));
  let ptys: TreePtys | undefined;
  try {
    const terminal = options.shellJob ? step(crid, "check files", shellTerminal) : undefined;
    ptys = step(crid, "make pseudo-terminals", () => new TreePtys(tree.running));
    const detached = options.detach && !options.shellJob ? step(crid, "make pseudo-terminals", () => onNewTerminal(tree, ptys!)) : false;
    const madeAgain = (path: string) => ptys!.slaveOf(path) !== undefined;
    for (const c of tree.running) c.files = ptys.onNewSlaves(c.files);
    if (terminal !== undefined) for (const c of tree.running) c.files = onShellTerminal(c.files, c.terminals, terminal, madeAgain);
    const files = step(crid, "check files", () => checkTreeFiles(tree, crid, options, inherit, madeAgain));
    const warnings = files.warnings;
    const pids = await stepAsync(crid, "check the PID", () => choosePids(store, tree, options.anyPid ?? false, warnings));
    const putBack = tree.running.flatMap((c) => c.contents).filter((f) => files.putBack.has(`${f.device}:${f.inode}`));
    const contents = step(crid, "recreate removed files", () => new SavedContents(putBack, crid));
    const recreated = step(crid, "recreate removed files", () => {
      try {
        return new Recreated(removedOfTree(tree), crid);
      } catch (error) {
        contents.release();
        throw error;
      }
    });
    const { shmem, ghosts, fds } = step(crid, "open files", () => openFiles(tree, inherit, { recreated, ptys: ptys! }, contents, crid));
    warnings.push(...fds.warnings);
    const built = new Built();
    let incarnations: Incarnations;
    let job: ShellJob | undefined;
    try {
      const layout = await createTree(tree, pids, { fds, shmem, ghosts, recreated }, built, crid);
      step(crid, "remove recreated files", () => recreated.remove(), built.root);
      for (const image of tree.running) {
        const pid = built.pidOf(image.process.pid);
        await rebuild(new Remote(pid, pid), image, images.open, inherit, built.threads(pid), warnings, options, { ...layout, ptys: ptys! });
      }
      // Nothing outside the tree changes before this point: a failed restart leaves the program's files as they were.
      step(crid, "put tmpfs files back", () => shmem.linkAtPaths(), built.root);
      step(crid, "cut back grown files", () => files.grown.forEach((grown, i) => warnings.push(...cutBackGrown(grown, fds.tables[i]!))), built.root);
      step(crid, "put back files the tree was writing", () => warnings.push(...contents.restore(crid)), built.root);
      incarnations = incarnationsOf(tree, built); // read while stopped: a short program may be gone by the end
      job = terminal === undefined ? undefined : step(crid, "lend the terminal", () => lendTerminal(tree, built), built.root);
      step(crid, "release the process", () => built.release(), built.root);
      job?.wake(readStat(built.root).pgrp);
      if (detached) step(crid, "hold the terminal", () => holdTerminal(ptys!.detachedMaster()!, built.root), built.root);
      step(crid, "unlock the TCP connections", () => unlockConnections(tree.running.flatMap((c) => c.inetSockets).filter((s) => s.state === InetSocketState.ESTABLISHED)), built.root);
    } catch (error) {
      job?.detach();
      built.kill();
      contents.release();
      fds.abandon();
      throw error;
    } finally {
      fds.close();
      shmem.release();
      ghosts.release();
      recreated.release();
    }
    // Snapshots of the restarted tree continue this branch, with this CRID as parent.
    step(crid, "record the branch", () => store.continueFrom(branch, incarnations.root, crid, incarnations.members), built.root);
    return { pid: built.root, crid, processes: tree.table.length, restoreMs: performance.now() - started, warnings, ...(job ? { job } : {}), ...(detached ? { onNewTerminal: true } : {}) };
  } finally {
    ptys?.close();
    images.close();
  }
}

/** The restarted tree's processKeys: the root's, and each other running process's with the one the image saved. */
interface Incarnations {
  root: string;
  members: Record<string, string>;
}

function incarnationsOf(tree: TreeCheckpoint, built: Built): Incarnations {
  const saved = new Map(tree.table.map((e) => [e.pid, `${e.pid}:${e.startTime}`]));
  const members = tree.running.slice(1).map((c) => [processKey(built.pidOf(c.process.pid)), saved.get(c.process.pid)!]);
  return { root: processKey(built.root), members: Object.fromEntries(members) };
}

/** Waits for a process restarted without --detach (cr is its parent) to exit. */
export function waitRestarted(pid: number): { code: number | null; signal: number | null } {
  return waitExit(pid);
}

/** The processes made so far, by saved pid: killed together if the restart fails. */
class Built {
  private readonly pids = new Map<number, number>();
  private readonly tids = new Map<number, number[]>();
  root = 0;

  add(saved: number, pid: number): void {
    if (this.pids.size === 0) this.root = pid;
    this.pids.set(saved, pid);
    this.tids.set(pid, [pid]);
  }

  pidOf(saved: number): number {
    return this.pids.get(saved) ?? saved;
  }

  /** The threads of restarted process `pid` (the leader first): rebuild adds the others. */
  threads(pid: number): number[] {
    return this.tids.get(pid)!;
  }

  /** Lets every process run, children first (a parent that runs first could miss nothing, but its child must be whole). */
  release(): void {
    for (const tids of [...this.tids.values()].reverse()) releaseRestored(tids);
  }

  /** Kills every process made, children first; the root is cr's own child, the others are reaped as their tracer. */
  kill(): void {
    for (const tids of [...this.tids.values()].reverse()) killTraced(tids, true);
  }

  /** A zombie has no threads left to release or kill. */
  forget(pid: number): void {
    this.tids.delete(pid);
  }
}

/**
 * The memfds, tmpfs files and deleted files made again, then every descriptor of the tree opened
 * in cr (those on the files through cr's); all closed again if any fails.
 */
function openFiles(tree: TreeCheckpoint, inherit: Map<number, string>, { recreated, ptys }: { recreated: Recreated; ptys: TreePtys }, contents: SavedContents, crid: bigint): { shmem: RestoredShmemFiles; ghosts: RestoredGhostFiles; fds: TreeFds } {
  let shmem: RestoredShmemFiles | undefined;
  let ghosts: RestoredGhostFiles | undefined;
  try {
    shmem = new RestoredShmemFiles(tree.running.flatMap((c) => c.shmemFiles), crid);
    ghosts = new RestoredGhostFiles(tree.running.flatMap((c) => c.ghostFiles), crid);
    const processes = tree.running.map((c) => ({ pid: c.process.pid, fds: c.files, shared: c.shared, treeShared: c.treeShared, eventfds: c.eventfds, timerfds: c.timerfds, signalfds: c.signalfds, inotify: c.inotify, ptyMasters: c.ptyMasters, data: c.pipes, sizes: c.pipeSizes, sockets: c.sockets, inetSockets: c.inetSockets, tcpConnections: c.tcpConnections }));
    return { shmem, ghosts, fds: openTreeDescriptors(processes, inherit, { recreated, shmem, ghosts, ptys }) };
  } catch (error) {
    shmem?.release();
    ghosts?.release();
    recreated.release();
    contents.release();
    throw error;
  }
}

/** What cr made and opened for the tree before its processes exist. */
interface Prepared {
  fds: TreeFds;
  shmem: RestoredShmemFiles;
  ghosts: RestoredGhostFiles;
  recreated: Recreated;
}

/** Where the tree's stubs keep what they share until each takes its own (see createTree). */
interface TreeLayout {
  trampoline: bigint;
  /** Shared memory objects by objectKey: a descriptor each, the same number in every process. */
  objects: Map<string, RestoredObject>;
  /** Saved objectKeys of the shmem files a descriptor of the tree holds: write(2) shows in no page table, so they are not tracked. */
  heldOpen: Set<string>;
  /** Saved pid -> restarted pid (another one under --any-pid). */
  pidOf: (saved: number) => number;
}

/**
 * Creates every process of the tree as a stub, each by its restored parent (clone3 with its
 * saved PID) so that getppid(), wait() and SIGCHLD work: the root is started with every
 * descriptor of the tree and every memfd, tmpfs and deleted file parked above the saved ones, the
 * trampoline and the shared anonymous objects are made in it, and each child inherits them by
 * the clone. Then sessions and process groups are made in the saved order, zombies exit with
 * their status, and each running process moves its descriptors from the parked ones into place.
 */
async function createTree(tree: TreeCheckpoint, pids: Map<number, number>, { fds, shmem, ghosts, recreated }: Prepared, built: Built, crid: bigint): Promise<TreeLayout> {
  const root = tree.running[0]!;
  const parked = parkDescriptors(fds, new Map([...shmem.descriptors(), ...ghosts.descriptors()]));
  const rootPid = step(crid, "start the stub", () => spawnStub({ stub: RESTORE_STUB, pid: pids.get(root.process.pid)!, fds: parked.pairs, cwd: cwdOf(root, recreated) }));
  built.add(root.process.pid, rootPid);
  const s = <T>(name: string, fn: () => T) => step(crid, name, fn, rootPid);
  const trampoline = s("place the trampoline", () => {
    const at = trampolineAddress(tree.running.flatMap((c) => c.vmas), collectVmas(rootPid));
    placeTrampolineAt(rootPid, at);
    scratch(rootPid); // creates it there
    return at;
  });
  const objects = s("create shared memory", () => {
    const anonymous = createSharedObjects(new Remote(rootPid, rootPid), tree.running.flatMap((c) => c.vmas), parked.next);
    return new Map([...restoredObjects([shmem, ghosts], parked.objects), ...anonymous]);
  });
  s("create child processes", () => {
    const groups = new SessionsAndGroups(tree.table, built);
    groups.arrange(tree.table[0]!);
    for (const entry of tree.table.slice(1)) {
      built.add(entry.pid, cloneStub(built.pidOf(entry.ppid), pids.get(entry.pid)!));
      groups.arrange(entry); // before its children: they are born into its session and group
    }
    groups.joinLate();
  });
  s("restore zombies", () => {
    for (const z of tree.table.filter((e) => e.state === MemberState.ZOMBIE)) {
      makeZombie(built.pidOf(z.pid), waitStatus(z.exitStatus));
      built.forget(built.pidOf(z.pid));
    }
  });
  for (const [i, image] of tree.running.entries()) {
    const pid = built.pidOf(image.process.pid);
    step(crid, "place descriptors", () => placeDescriptors(new Remote(pid, pid), fds.tables[i]!, parked, i === 0 ? undefined : cwdOf(image, recreated)), pid);
  }
  const heldOpen = new Set(tree.running.flatMap((c) => c.files.filter((f) => f.kind === FileKind.SHMEM).map(objectKey)));
  return { trampoline, objects, heldOpen, pidOf: (saved) => built.pidOf(saved) };
}

/**
 * Every cr descriptor of the tree, once, at a number above every saved one; after them cr's
 * memfds, tmpfs and deleted files, which stay until the mappings are made (mapVmas closes them).
 */
interface Parked {
  /** [parked fd, cr's fd], for spawnStub. */
  pairs: [number, number][];
  /** cr's fd -> parked fd. */
  at: Map<number, number>;
  /** First number past the parked descriptors. */
  end: number;
  /** The memfds, tmpfs and deleted files by saved key: their parked numbers, from `end` on. */
  objects: Map<string, number>;
  /** First number past the files. */
  next: number;
}

function parkDescriptors(fds: TreeFds, files: Map<string, number>): Parked {
  const tables = fds.tables.flat();
  const base = Math.max(2, ...tables.map(([target]) => target)) + 1;
  const sources = [...new Set(tables.map(([, source]) => source))];
  const at = new Map(sources.map((source, i) => [source, base + i]));
  const end = base + sources.length;
  const objects = new Map([...files.keys()].map((key, i) => [key, end + i]));
  const pairs = [...[...at].map(([source, fd]): [number, number] => [fd, source]), ...[...objects].map(([key, fd]): [number, number] => [fd, files.get(key)!])];
  return { pairs, at, end, objects, next: end + objects.size };
}

/** Moves one process's descriptors from the parked numbers into place, closes the parked ones, and enters its directory. */
function placeDescriptors(remote: Remote, table: [number, number][], parked: Parked, cwd: string | undefined): void {
  for (const [target, source] of table) {
    remote.call("dup3", [BigInt(parked.at.get(source)!), BigInt(target), 0n], `placing fd ${target}`);
  }
  const first = Math.min(...parked.at.values());
  remote.call("close_range", [BigInt(first), BigInt(parked.end - 1), 0n], "closing the parked descriptors");
  if (cwd !== undefined) remote.call("chdir", [remote.putString(cwd)], `entering ${cwd}`);
}

/** The working directory to enter: through cr's descriptor on it when it was removed (removed.ts). */
function cwdOf(image: Checkpoint, recreated: Recreated): string {
  const removed = image.removed.find((r) => r.cwd);
  return (removed && recreated.pathFor(removed)) ?? image.process.cwd;
}

/** Every removed directory and FIFO of the tree, once. */
function removedOfTree(tree: TreeCheckpoint): RemovedFiles {
  const byInode = new Map<string, RemovedFiles[number]>();
  for (const r of tree.running.flatMap((c) => c.removed)) {
    const key = `${r.device}:${r.inode}`;
    const known = byInode.get(key);
    if (known) known.cwd ||= r.cwd;
    else byInode.set(key, { ...r });
  }
  return [...byInode.values()];
}

/**
 * Sessions and process groups, made as each process is created (a child is born into its
 * parent's): a session leader calls setsid, a group leader setpgid(0, 0), and a process of a
 * group whose leader is in the tree joins it, later if that leader is created after it. The
 * root's session and group outside the tree are not recreated: it is in cr's (as a process
 * started by cr), and its children in its.
 */
class SessionsAndGroups {
  private readonly inTree: Set<number>;
  private readonly made = new Set<number>();
  private readonly late: TableEntry[] = [];

  constructor(
    table: TableEntry[],
    private readonly built: Built,
  ) {
    this.inTree = new Set(table.map((e) => e.pid));
  }

  arrange(e: TableEntry): void {
    this.made.add(e.pid);
    if (e.sid === e.pid) this.call(e, "setsid", [], "a session leader");
    else if (e.pgid === e.pid) this.call(e, "setpgid", [0n, 0n], "a process group leader");
    else if (this.inTree.has(e.pgid) && !this.made.has(e.pgid)) this.late.push(e);
    else if (this.inTree.has(e.pgid)) this.join(e);
  }

  joinLate(): void {
    for (const e of this.late) this.join(e);
  }

  private join(e: TableEntry): void {
    this.call(e, "setpgid", [0n, BigInt(this.built.pidOf(e.pgid))], `a member of process group ${e.pgid}`);
  }

  private call(e: TableEntry, name: "setsid" | "setpgid", args: bigint[], what: string): void {
    const pid = this.built.pidOf(e.pid);
    new Remote(pid, pid).call(name, args, `making process ${e.pid} ${what}`);
  }
}

/** A wait status (as /proc/PID/stat gives a zombie's) as an exit code or a terminating signal. */
function waitStatus(status: number): { code?: number; signal?: number } {
  return (status & 0x7f) === 0 ? { code: (status >> 8) & 0xff } : { signal: status & 0x7f };
}

/** The stub becomes the process, stopped: the steps of docs/restart.md, in order. */
async function rebuild(leader: Remote, image: Checkpoint, open: (crid: bigint) => ImageReader, inherit: Map<number, string>, tids: number[], warnings: string[], options: RestartOptions, layout: TreeLayout & { ptys: TreePtys }): Promise<void> {
  const { crid, anyPid } = options;
  const pid = leader.pid;
  const s = <T>(name: string, fn: () => T) => step(crid, name, fn, pid);
  s("clear the stub", () => clearStub(leader, layout.trampoline));
  s("move vdso and vvar", () => moveSpecialMappings(leader, image.vmas));
  const added = s("map memory", () => mapVmas(leader, image.vmas, layout.objects));
  await stepAsync(crid, "fill memory", () => fillMemory(pid, image.data, open, image.vmas, options.onProgress), pid);
  s("protect memory", () => protectVmas(leader, added));
  s("restore mapping attributes", () => restoreMappingAttrs(leader, image.vmas, image.memoryAttrs));
  s("restore mm fields", () => restoreMmMap(leader, image.process));
  // Every process of the tree exists, and the parked and shared-memory descriptors are closed: no saved number is taken.
  s("restore pidfds", () => restorePidfds(leader, image.pidfds, image.files, image.shared, inherit, layout.pidOf));
  s("restore process state", () => {
    restoreComm(leader, image.process);
    restoreUmaskAndPersonality(leader, image.process);
    warnings.push(...restoreLimits(leader, image.process));
    restoreFdState(leader, image.files, inherit);
  });
  s("restore the controlling terminal", () => restoreControllingTerminal(leader, image.terminals, image.files, layout.ptys));
  s("restore file locks", () => warnings.push(...restoreLocks(leader, image.locks, image.files, inherit)));
  s("restore epoll watches", () => warnings.push(...restoreEpollWatches(leader, image.epolls, image.files))); // every fd is in place, as root (EPOLLWAKEUP)
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
  s("arm write tracking", () => armTracking(pid, image.identity, liveSharedKeys(pid, image.vmas, layout.heldOpen), warnings));
  s("restore process attributes", () => restoreAttrs(leader, image.attrs, tids));
  s("restore credentials", () => warnings.push(...restoreCredentials(leader, image.process, tids)));
  s("restore dumpable and no_new_privs", () => restoreLateAttrs(leader, image.attrs, tidOf));
  s("restore seccomp filters", () => restoreSeccomp(leader, image.seccomp, tids.length)); // the last injected call
  s("restore registers", () => threads.forEach((t, i) => applyThreadState(tids[i]!, t)));
}

/**
 * A detached restart of a program whose root ran on a terminal from outside the tree: the root
 * becomes the leader of a session of its own, whose controlling terminal is a new pseudo-terminal
 * with the old one's settings, its group the terminal's foreground job. False when the root ran
 * on no such terminal.
 */
function onNewTerminal(tree: TreeCheckpoint, ptys: TreePtys): boolean {
  const root = tree.running[0]!;
  const ctty = root.terminals.find((t) => t.controlling && ptys.slaveOf(t.path) === undefined);
  if (!ctty) return false;
  ptys.adopt(ctty);
  ctty.foregroundPgrp = root.process.pgid;
  tree.table[0]!.sid = tree.table[0]!.pid;
  return true;
}

/** The terminal holder takes the new terminal's master, for `cr attach PID`; it ends when the program does. */
function holdTerminal(master: number, pid: number): void {
  spawn(TERMINAL_HOLDER, [String(pid)], { stdio: ["ignore", "ignore", "ignore", master], detached: true }).unref();
}

/**
 * Lends cr's terminal to the root's group with the settings of its controlling terminal, before
 * the release: the program's first read finds it in the foreground (else SIGTTIN stops it).
 */
function lendTerminal(tree: TreeCheckpoint, built: Built): ShellJob {
  const job = new ShellJob();
  const saved = tree.running[0]!.terminals.find((t) => t.controlling);
  if (saved) job.attach(readStat(built.root).pgrp, tree.running[0]!.process.pgid, saved);
  return job;
}

/** Arms write tracking where snapshots would use it; a refusal only costs a full next snapshot. */
function armTracking(pid: number, identity: bigint, heldOpen: ReadonlySet<string>, warnings: string[]): void {
  if (chooseTracker(probeKernel()).name !== "write-protect") return;
  try {
    armAfterRestart(pid, identity, heldOpen);
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
      return { branch, images, tree: await readTree(crid, images.open) };
    } catch (error) {
      images.close();
      throw error;
    }
  }, "shared");
}

async function readTree(crid: bigint, open: (crid: bigint) => ImageReader): Promise<TreeCheckpoint> {
  const top = open(crid);
  const running: Checkpoint[] = [];
  for (const section of top.sections()) running.push(await readCheckpoint(crid, top, section, open));
  const table = top.processTable()?.processes ?? [tableEntry(running[0]!.process)];
  const sections = table.filter((e) => e.state === MemberState.RUNNING).map((e) => e.pid);
  if (sections.join() !== running.map((c) => c.process.pid).join()) {
    throw new CrError(`image ${top.path}: its MEMBER sections (${running.map((c) => c.process.pid).join(", ")}) are not the running processes of its PROCESS_TABLE (${sections.join(", ")})`, { code: "BAD_IMAGE", crid, path: top.path });
  }
  return { running, table };
}

/** The table entry of the one process of an image without a PROCESS_TABLE. */
function tableEntry(p: ProcessRecord): TableEntry {
  return { pid: p.pid, ppid: p.ppid, pgid: p.pgid, sid: p.sid, startTime: 0n, state: MemberState.RUNNING, exitStatus: 0 };
}

async function readCheckpoint(crid: bigint, top: ImageReader, section: ImageSection, open: (crid: bigint) => ImageReader): Promise<Checkpoint> {
  const records: SectionRecords = {
    one: (type) => section.record(type),
    all: (type) => section.records(type),
    need: (type) => {
      const value = section.record(type);
      if (value === undefined) throw new CrError(`image ${top.path} has no ${type} record${section.index > 0 ? ` for process ${section.pid}` : ""}`, { code: "BAD_IMAGE", crid, path: top.path });
      return value;
    },
  };
  const saved = readSection(records);
  // Every REF is resolved (and checked) now, before a process exists.
  return { ...saved, identity: top.identity, data: await resolveChain(crid, open, section.index) };
}

/** Every process's leases free, files as the image saw them, socket names free (restart's "check files"). */
function checkTreeFiles(tree: TreeCheckpoint, crid: bigint, options: RestartOptions, inherit: Map<number, string>, madeAgain: (terminal: string) => boolean): { warnings: string[]; grown: FdRecord[][]; putBack: Set<string> } {
  const saved = new Set(tree.running.flatMap((c) => c.contents).map((f) => `${f.device}:${f.inode}`));
  const socketFds = tree.running.flatMap((c) => c.files.filter((fd) => fd.kind === FileKind.SOCKET).map((fd) => ({ pid: c.process.pid, fd })));
  checkSockets(socketsByInode(tree.running.flatMap((c) => c.sockets)), socketFds, inherit, crid);
  const shmemFiles = tree.running.flatMap((c) => c.shmemFiles);
  const ghostFiles = tree.running.flatMap((c) => c.ghostFiles);
  checkGhostFiles(ghostFiles, crid);
  const made = new Set([...shmemFiles, ...ghostFiles].map(objectKey));
  const checked = tree.running.map((image) => {
    if (!options.shellJob && !options.detach) checkTerminals(image.process.pid, image.process.comm, image.terminals, crid, madeAgain);
    checkLeasesFree(image.locks, image.files); // before any open could break a lease
    const objects = { cwd: image.process.cwd, vmas: image.vmas, fds: image.files, removed: image.removed, made };
    // A file the tree was writing that changed as would be refused comes back with its saved content.
    return confirmRestorable(objects, crid, { force: options.force ?? false, keepFiles: options.keepFiles ?? false, inherited: inherit, saved });
  });
  const warnings = [...checked.flatMap((c) => c.warnings), ...checkShmemFiles(shmemFiles, crid, options.force ?? false)];
  return { warnings, grown: checked.map((c) => c.grown), putBack: new Set(checked.flatMap((c) => c.putBack).map((f) => `${f.device}:${f.inode}`)) };
}

/**
 * The saved PIDs and TIDs of every process must be free, or the whole restart is refused; with
 * anyPid the kernel picks (a warning says so): saved pid -> the pid to ask for (0: any). The
 * checkpointed root itself, killed by `cr snapshot --kill` and not yet reaped, is waited for.
 */
async function choosePids(store: Store, tree: TreeCheckpoint, anyPid: boolean, warnings: string[]): Promise<Map<number, number>> {
  const saved = tree.table.map((e) => e.pid);
  const own = ownIncarnations(store, tree);
  if (!anyPid) for (const pid of saved) await waitOwnZombie(own, pid);
  const ids = [...saved, ...tree.running.flatMap((c) => c.threads.map((t) => t.tid))];
  for (const id of new Set(ids)) {
    if (!existsSync(`/proc/${id}`)) continue;
    const comm = holderOf(own, id);
    if (anyPid) {
      warnings.push(`PID ${id} is taken by ${comm}: the process${saved.length > 1 ? "es get" : " gets"} new PIDs and TIDs (--any-pid)`);
      return new Map(saved.map((pid) => [pid, 0]));
    }
    const whose = saved.length > 1 ? ` (a process of the saved tree of ${saved.length})` : "";
    throw new CrError(`PID ${id}${whose} is taken by ${comm}: nothing was restarted (pass --any-pid to restart under other PIDs)`, { code: "PID_TAKEN", pid: id });
  }
  return new Map(saved.map((pid) => [pid, pid]));
}

/**
 * Whether an incarnation ("pid:starttime") is one the checkpoint saved: a process of the image's
 * table, or one the store has snapshotted.
 */
type OwnIncarnation = (key: string) => boolean;

function ownIncarnations(store: Store, tree: TreeCheckpoint): OwnIncarnation {
  const table = new Set(tree.table.map((e) => `${e.pid}:${e.startTime}`));
  return (key) => table.has(key) || store.branchOf(key) !== undefined;
}

/** A zombie whose incarnation the checkpoint saved: a checkpointed process itself, killed (its children reparented to PID 1 with it). */
function isOwnZombie(own: OwnIncarnation, stat: ProcStat): boolean {
  return stat.state === "Z" && own(`${stat.pid}:${stat.startTime}`);
}

/** Gives the parent of the checkpointed process, killed, the time to reap it (PID 1 takes ~2 s). */
async function waitOwnZombie(own: OwnIncarnation, pid: number): Promise<void> {
  let stat: ProcStat;
  try {
    stat = readStat(pid);
  } catch (error) {
    if (error instanceof CrError && error.code === "ESRCH") return; // free
    throw error;
  }
  if (isOwnZombie(own, stat)) await waitReaped(pid, `${pid}:${stat.startTime}`);
}

/** Who holds a PID, as the user can act on it: a zombie is named with the parent that has not reaped it. */
function holderOf(own: OwnIncarnation, pid: number): string {
  try {
    const stat = readStat(pid);
    if (isOwnZombie(own, stat)) return `the checkpointed process itself, killed but not yet reaped by its parent PID ${stat.ppid} (${commOf(stat.ppid) ?? "exited"})`;
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

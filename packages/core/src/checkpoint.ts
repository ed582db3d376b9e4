import { closeSync } from "node:fs";
import { release } from "node:os";
import { performance } from "node:perf_hooks";
import { killTraced, lz4CompressBlock, NativeError, PAGE_SIZE, probeKernel, scratch, xxh64 } from "@cr/native";
import { type ImageSink, ImageWriter, LockKind, LZ4_KEEP_RATIO, type PageMapEntry, type Reference, type UnixSocketRecord, type InetSocketRecord, type TcpConnectionRecord } from "@cr/format";
import { askAttrs } from "./objects/attrs.js";
import { checkMember, checkTree, type CheckReport, type SaveChoices } from "./check.js";
import { withImageSink } from "./store/direct-io.js";
import { CrError } from "./errors.js";
import { collectOwners } from "./objects/fd-owners.js";
import { collectFiles } from "./objects/files.js";
import { lockRecords } from "./objects/locks.js";
import { collectEpolls } from "./objects/epolls.js";
import { collectEventfds } from "./objects/eventfds.js";
import { collectSignalfds } from "./objects/signalfds.js";
import { collectInotify, inotifyWarnings } from "./objects/inotify.js";
import { collectPidfds } from "./objects/pidfds.js";
import { collectTimerfds } from "./objects/timerfds.js";
import { collectTerminals } from "./objects/terminals.js";
import { collectPtyMasters, ptyWarnings } from "./objects/pty-pairs.js";
import { collectSharedFds, collectTreeSharedFds, type SharedFd } from "./objects/shared-fds.js";
import { confirmRestorable } from "./objects/files-restore.js";
import { collectPipeData, collectPipeSizes } from "./objects/pipes.js";
import { collectRemoved } from "./objects/removed.js";
import { collectFileContents, FileBudget } from "./objects/file-contents.js";
import { fdRecord, processRecord, vmaRecord } from "./store/image-records.js";
import { copyBuffer, savedRuns } from "./objects/memory.js";
import { type LaterAnswer, MemoryPlan, type PlannedMemory } from "./memory-plan.js";
import { BLOCK_PAGES, forkBreakEven, forkTakesAll, securePages, type FrozenPages, type PageSource, type SecureChoice, type SecuredPages } from "./objects/secure-pages.js";
import { subtractRuns, totalPages, type PageRun } from "./pages.js";
import type { OnProgress } from "./progress.js";
import { ColumnLoan } from "./store/column-memory.js";
import { childPageMap, NOTHING_INHERITED, openParent, type ParentImage, type ParentTree, rememberWrittenMaps, type SavedMapping, type WrittenMap } from "./store/parent.js";
import { collectSeccomp, suspendFilters } from "./objects/seccomp.js";
import { askMemorySettings, scanGuards, withGuards } from "./objects/mapping-attrs.js";
import { askSignals } from "./objects/signals.js";
import { DEFAULT_BRANCH } from "./names.js";
import { Store, storeDir } from "./store/store.js";
import { collectProcess, readStat, statIfExists, type ProcessInfo, type ProcStat } from "./objects/task.js";
import { Queries } from "./process/inject.js";
import { commOf } from "./process/procfs.js";
import { askThread, collectThread } from "./objects/threads.js";
import { asInterrupted } from "./objects/syscall-restarts.js";
import { chooseTracker, createTracker, type DirtyResult, type DirtyTracker, type SavedPages, type TrackContext, type TrackerName } from "./trackers/index.js";
import { closeHistorySlot, openHistorySlot, type HistorySlot } from "./trackers/history.js";
import { sharedDoubt, vouchForSharedObjects } from "./trackers/shared-objects.js";
import { askTimers } from "./objects/timers.js";
import { TOOL_VERSION } from "./version.js";
import { warmPageTables, type Warmup } from "./process/warmup.js";
import { freezeTree, processTable, runningPids, thawOrder, thawTree, type FrozenTree } from "./objects/tree.js";
import { saveSection, type ProcessSection } from "./objects/index.js";
import { objectKey, pageSavers, savedElsewhere, type PageSavers } from "./objects/shmem.js";
import { TreeShmemFiles } from "./objects/shmem-files.js";
import { TreeGhostFiles } from "./objects/ghost-files.js";
import { collectUnixSockets } from "./objects/unix-sockets.js";
import { collectInetSockets } from "./objects/inet-sockets.js";
import { ConnectionLocks, silenceConnection } from "./objects/tcp-connections.js";
import { collectVmasSince, markTrampoline, type Vma } from "./objects/vmas.js";
import type { FdEntry } from "./objects/files.js";
import { commitImage } from "./store/store-images.js";

export interface SnapshotOptions {
  store?: string;
  branch?: string;
  incremental: boolean;
  tracker?: TrackerName;
  /** What happens to the process (tree) once its image is stored. */
  after?: "leave-running" | "kill";
  codec?: "raw" | "lz4";
  /**
   * Descriptors the user will hand over at restart (`cr restart --inherit-fd N:PATH`), by number in
   * every process: not refused, whatever they are (a socket to outside the tree).
   */
  handedOver?: ReadonlySet<number>;
  /** TCP connections are saved as closed sockets (`cr snapshot --tcp-close`) instead of refused. */
  tcpClose?: boolean;
  /** Established TCP connections are saved as they are, locked until a restart (`--tcp-established`; needs `after: "kill"`). */
  tcpEstablished?: boolean;
  /** How the changed pages are secured before the thaw (secure-pages.ts): by cost unless told. */
  securePages?: SecureChoice;
  /** Called once the tree is thawed, before the image is written (not with `after: "kill"`). */
  onThawed?: () => void | Promise<void>;
  /**
   * Page bytes written into the image, of the total, once per block (1 MiB). Changes beyond
   * the copy budget are written while the target is frozen: it must cost next to nothing.
   */
  onProgress?: OnProgress;
}

export interface SnapshotResult {
  crid: bigint;
  parent: bigint | null;
  pid: number;
  /** The incarnation of the process (see processKey). */
  processKey: string;
  /** The processes saved: the root and its descendants (zombies included). */
  processes: number;
  tracker: TrackerName;
  trackerReason: string;
  /** Why every page was saved although an increment was asked for. */
  fullReason?: string;
  /** After a kill: the parent that had not reaped the process yet (its PID stays taken until it does). */
  unreapedBy?: { pid: number; comm: string };
  dirtyPages: number;
  /** How many processes' pages were read from a frozen copy after the thaw (secure-pages.ts). */
  frozenCopies: number;
  bytes: number;
  downtimeMs: number;
  totalMs: number;
  /** What a restart of this image will not give back exactly, for the user. */
  warnings: string[];
}

/**
 * Checkpoint a live process and its descendants (docs/design.md decision 7): freeze the tree,
 * collect each process's state and changed pages into memory, unfreeze, and only then write and
 * commit the image. Changes larger than the copy budget (a full snapshot of a large process) are
 * streamed into the image while the tree stays frozen instead: the same downtime as copying
 * them, in bounded memory. The target is harmed by nothing that fails; with `after: "kill"` it
 * stays frozen until its image is durable.
 */
export async function snapshot(pid: number, options: SnapshotOptions): Promise<SnapshotResult> {
  const started = performance.now();
  const choices: SaveChoices = { handedOver: options.handedOver ?? new Set<number>(), tcpClose: options.tcpClose ?? false, tcpEstablished: options.tcpEstablished ?? false };
  if (choices.tcpEstablished && options.after !== "kill") {
    throw new CrError("--tcp-established saves connections that only a process killed at its snapshot can take up again (one that runs on moves them past the image): add --kill", { code: "EINVAL", pid });
  }
  const checked = await checkTree(pid, { ...choices, socketsJudgedFrozen: true }); // collectTreeSockets judges them
  refuseUnsupported(checked.report);
  const store = Store.open(storeDir(options.store), { create: true });
  const key = processKey(pid);
  const branch = options.branch ?? store.branchOf(key) ?? DEFAULT_BRANCH;
  store.branch(branch); // an unknown or damaged branch is refused before a CRID is spent
  const parent = options.incremental ? openParent(store, branch, key) : null;
  const slots: HistorySlot[] = [];
  try {
    const choice = chooseTracker(probeKernel(), options.tracker);
    const tracker = createTracker(choice.name);
    const kill = options.after === "kill";
    const before = prepare(pid, checked.vmas, parent, choices, slots, tracker); // a process without problems had its mappings read
    const locks = before.locks;
    const crid = store.allocateCrid();
    const fd = store.createImageFile(branch);
    emptyYoungGeneration();
    const warmup = warmTree([...checked.vmas.keys()]); // last: cr's own allocations undo it
    let run: Checkpointed | undefined;
    try {
      const path = store.imagePath(branch, crid);
      await warmup.settled();
      run = await checkpointFrozen(pid, tracker, before, { fd, path, crid, parent, codec: options.codec ?? "raw", keepFrozen: kill, stoppedBeforeMs: warmup.stoppedMs, secure: options.securePages ?? "auto", onThawed: options.onThawed, onProgress: options.onProgress });
      if (kill) confirmBeforeKill(run.states, crid, choices.handedOver);
      commitImage(store, branch, fd, {
        crid: String(crid),
        parent: parent ? String(parent.crid) : null,
        time: new Date().toISOString(),
        bytes: run.bytes,
        dirtyPages: dirtyPages(run.states),
        downtimeMs: run.downtimeMs,
        totalMs: performance.now() - started,
        tracker: choice.name,
        pid,
        processKey: key,
      });
    } catch (error) {
      // The image could not be stored: a tree that was to be killed runs on instead, with its connections.
      locks?.release();
      if (kill && run) thawTree(run.tree.tids);
      throw error;
    } finally {
      closeSync(fd);
      await run?.copiesGone;
    }
    const downtimeMs = kill ? warmup.stoppedMs + performance.now() - run.frozenAt : run.downtimeMs;
    if (kill) silenceConnections(run.states); // the lock holds them for the restart
    const unreapedBy = kill ? await killTree(run.tree, key) : null;
    if (!kill) recordCommitted(tracker, run);
    const fullReason = run.states.find((s) => s.fullReason)?.fullReason;
    return {
      crid,
      parent: parent?.crid ?? null,
      pid,
      processKey: key,
      processes: run.tree.members.length,
      tracker: choice.name,
      trackerReason: choice.reason,
      ...(fullReason ? { fullReason } : {}),
      dirtyPages: dirtyPages(run.states),
      frozenCopies: run.frozenCopies,
      bytes: run.bytes,
      downtimeMs,
      totalMs: performance.now() - started,
      warnings: [...run.tree.exited.map((e) => `process ${e.pid} (${e.comm}) exited while cr froze the tree: the image holds the tree without it`), ...run.states.flatMap((s) => s.warnings)],
      ...(unreapedBy !== null ? { unreapedBy: { pid: unreapedBy, comm: commOf(unreapedBy) ?? "exited" } } : {}),
    };
  } finally {
    for (const slot of slots) closeHistorySlot(slot);
    parent?.close();
    store.close();
  }
}

function dirtyPages(states: FrozenState[]): number {
  return states.reduce((sum, s) => sum + totalPages(s.plan.data), 0);
}

/** What is read while the tree still runs, to keep it out of the downtime. */
interface Before {
  /** Each running member's mappings (smaps walks every page table: too slow to read frozen when avoidable). */
  vmas: Map<number, Vma[]>;
  /** Each running member's parent section (none: saved whole). */
  parents: Map<number, ParentImage | null>;
  parent: ParentTree | null;
  /** Where the copied pages go: allocated and faulted in now, sized from what changed by now (rehearse). */
  buffer: Buffer | undefined;
  /** Descriptors the user hands over at restart, and the TCP connections closed (SnapshotOptions). */
  choices: SaveChoices;
  /** With --tcp-established: the connections locked while they are saved. */
  locks: ConnectionLocks | undefined;
  /** The members' history slots, opened while frozen (collectLayout), closed when the snapshot ends. */
  slots: HistorySlot[];
}

function prepare(root: number, vmas: Map<number, Vma[]>, parent: ParentTree | null, choices: SaveChoices, slots: HistorySlot[], tracker: DirtyTracker): Before {
  // A member that exits meanwhile is not in the frozen tree: it needs no parent.
  const parents = new Map([...vmas.keys()].flatMap((pid) => unlessExited(() => [pid, parentOf(parent, root, pid)] as const)));
  const previewed = rehearse(tracker, vmas, parents);
  // What changed by now, or else as much as the parent's increment; a larger change allocates
  // while frozen. One the size of a fork's break-even or more is likely forked (secure-pages.ts): no buffer.
  const expected = [...parents].reduce((sum, [pid, p]) => {
    const changed = previewed.get(pid) ?? p?.changedPages ?? 0;
    const estimate = p ? changed + (changed >> 2) + 256 : 0;
    return sum + (estimate < forkBreakEven(vmas.get(pid)!) ? estimate : 0);
  }, 0);
  return { vmas, parents, parent, buffer: expected > 0 ? copyBuffer(expected) : undefined, choices, slots, locks: choices.tcpEstablished ? new ConnectionLocks() : undefined };
}

/** The parent section of member `pid` of the tree rooted at `root`, if the parent image holds it. */
function parentOf(parent: ParentTree | null, root: number, pid: number): ParentImage | null {
  return parent?.section(pid, readStat(pid).startTime, pid === root) ?? null;
}

/**
 * Two scavenges where `gc` is exposed (`cr` starts with --expose-gc): the freeze starts with an
 * empty young generation, so none runs inside it, and allocates on memory the scavenges touched
 * (docs/measurements.md, "Prepare").
 */
function emptyYoungGeneration(): void {
  const gc = (globalThis as { gc?: (options: { type: "minor" }) => void }).gc;
  gc?.({ type: "minor" });
  gc?.({ type: "minor" });
}

/** Warms every member's page tables (warmup.ts); one that exited is left to the freeze to report. */
function warmTree(pids: number[]): Warmup {
  const warmups = pids.flatMap((pid) => unlessExited(() => warmPageTables(pid)));
  return {
    stoppedMs: warmups.reduce((sum, w) => sum + w.stoppedMs, 0),
    settled: async () => {
      await Promise.all(warmups.map((w) => w.settled().catch((error: unknown) => exitedOrThrow(error))));
    },
  };
}

/** [fn()], or [] when the process it reads has exited meanwhile (the freeze reports a member that exits then). */
function unlessExited<T>(fn: () => T): T[] {
  try {
    return [fn()];
  } catch (error) {
    exitedOrThrow(error);
    return [];
  }
}

/** Returns if `error` says the process exited; throws it otherwise. */
function exitedOrThrow(error: unknown): void {
  if ((error instanceof NativeError || error instanceof CrError) && error.code === "ESRCH") return;
  throw error;
}

/**
 * The frozen steps that only read, run once while the target still runs, and how many pages
 * each member would save now (the tracker's preview, planned): they size the copy buffer. A
 * fresh `cr` process would otherwise run that code for the first time (interpreted, with
 * nothing compiled yet) with the target frozen, on heap it has never touched (a first touch
 * costs ~14 µs a page on this VM). Since the scan, copy and thaw are one native call
 * (secureWritten), one round gains as much as five did, and copying in it nothing
 * (docs/measurements.md, "Prepare"). A member a frozen copy will take is planned after the
 * thaw: there is nothing to warm, and its count is the tracker's. Nothing here changes the target.
 */
function rehearse(tracker: DirtyTracker, vmas: Map<number, Vma[]>, parents: Map<number, ParentImage | null>): Map<number, number> {
  const changed = new Map<number, number>();
  try {
    for (const [pid, seen] of vmas) {
      const now = collectVmasSince(pid, seen);
      collectProcess(pid);
      collectFiles(pid);
      const parent = trackedParent(parents.get(pid) ?? null, tracker);
      const memory = new MemoryPlan(now, tracker.preview?.({ pid, vmas: now, parent, heldOpen: new Set() }) ?? { unchanged: [] }, () => []);
      const counted = memory.changedPages;
      changed.set(pid, counted !== undefined && forkTakesAll(now, counted) ? counted : totalPages(memory.of(pid).plan.data));
    }
  } catch (error) {
    // A race with the running target (a mapping unmapped meanwhile, the process exiting) says
    // nothing about the snapshot: the frozen steps read everything again and report their own.
    if (!(error instanceof NativeError || error instanceof CrError)) throw error;
  }
  return changed;
}

/** The records of a section that the frozen state holds as they are written (sectionOf). */
const SAVED_AS_IS = [
  "threads", "signals", "attrs", "timers", "seccomp", "treeShared", "eventfds", "epolls", "timerfds", "signalfds", "terminals", "ptyMasters",
  "inotify", "pidfds", "owners", "memoryAttrs", "pipes", "pipeSizes", "removed", "contents", "sockets", "inetSockets", "tcpConnections", "shmemFiles", "ghostFiles",
] as const satisfies readonly (keyof ProcessSection)[];

/** A member as collected while frozen: its memory not planned yet (MemoryPlan). */
interface CollectedState extends Required<Pick<ProcessSection, (typeof SAVED_AS_IS)[number]>> {
  pid: number;
  tids: number[];
  info: ProcessInfo;
  brk: bigint;
  vmas: Vma[];
  files: FdEntry[];
  shared: SharedFd[];
  /** What a restart will not give back exactly (SnapshotResult.warnings). */
  warnings: string[];
  memory: MemoryPlan;
  trackerName: TrackerName;
  trackContext: TrackContext;
  parent: ParentImage | null;
}

/** Everything collected of one process while the tree was frozen, its memory planned, and what its tracker answered. */
type FrozenState = Omit<CollectedState, "memory"> & Omit<PlannedMemory, "answer"> & TrackerOutcome;

/** What the image records of the tracker's answer: its state, and why it saved everything. */
interface TrackerOutcome {
  trackerState?: () => Promise<Uint8Array>;
  fullReason?: string;
}

interface Checkpointed {
  tree: FrozenTree;
  /** The running members', parents before children. */
  states: FrozenState[];
  frozenAt: number;
  downtimeMs: number;
  frozenCopies: number;
  /** The frozen copies, killed once the image was written, are gone (they die while it is committed). */
  copiesGone: Promise<void>;
  identity: bigint;
  bytes: number;
}

interface ImageTarget {
  fd: number;
  /** Where the image will be linked once committed (for errors). */
  path: string;
  crid: bigint;
  parent: ParentTree | null;
  codec: "raw" | "lz4";
  /** Leave the tree frozen afterwards (it is about to be killed). */
  keepFrozen: boolean;
  /** Downtime the snapshot already cost before this freeze (the warm-up's stop). */
  stoppedBeforeMs: number;
  secure: SecureChoice;
  onThawed: SnapshotOptions["onThawed"];
  onProgress: OnProgress | undefined;
}

/**
 * Freeze the tree, collect, secure the changed pages (a copy, or a frozen copy-on-write child:
 * secure-pages.ts) and thaw before writing the image, or (changes beyond the copy budget with
 * nothing forked) write it while frozen. The downtime is from freeze to thaw. (Copying on the
 * thread pool while this thread collects the rest was tried: with two cores the copy's threads
 * and the injected syscalls' target thread slow each other as much as they overlap.)
 */
async function checkpointFrozen(root: number, tracker: DirtyTracker, before: Before, image: ImageTarget): Promise<Checkpointed> {
  const tree = await freezeTree(root);
  const { frozenAt } = tree;
  let thawedAt: number | undefined;
  const thawNow = () => {
    if (thawedAt !== undefined) return;
    thawTree(tree.tids);
    thawedAt = performance.now();
  };
  let secured: SecuredPages | undefined;
  try {
    const collected = await collectTree(tree, tracker, before);
    secured = securePages(pagesToSecure(tree, collected), before.buffer, image.keepFrozen, image.secure, thawOrder(tree.tids));
    if (secured.thawed) thawedAt = performance.now();
    expectReaped(collected, secured.reapedFaults);
    if (secured.thawable && !image.keepFrozen) {
      thawNow();
      await image.onThawed?.();
    }
    // Planned now where the pages were copied with the thaw, or a frozen copy holds them (from its pagemap); the others were while frozen.
    const { pagemapOf, sources } = secured;
    const readable = secured.thawable && !image.keepFrozen; // the tracker reads pages for its state (hot-pages.ts) only outside the freeze
    const states = collected.map(({ memory, ...state }, i) => withPlan(state, memory.of(pagemapOf[i]!), readable ? sources[i] : undefined));
    secured.confirmPlans();
    const written = await writeImage(image, tree, states, sources);
    if (!image.keepFrozen) thawNow();
    const downtimeMs = image.stoppedBeforeMs + (thawedAt ?? performance.now()) - frozenAt;
    return { tree, states, frozenAt, downtimeMs, frozenCopies: secured.frozenCopies, copiesGone: secured.release(), ...written };
  } catch (error) {
    thawNow();
    await secured?.release();
    throw error;
  }
}

/**
 * Every running member's state, parents first. The mappings are read before a first snapshot
 * creates the trampoline. Every injected syscall runs before the tracker re-arms: on a
 * shadow-paging hypervisor (this PVM guest) the target's first run after its PTEs changed pays
 * their resync (~3 us a re-protected page), which a later injection would pay inside the freeze.
 * Shared memory is saved once for the whole tree (shmem.ts, shmem-files.ts). The guard regions
 * of the pages no tracker answers for (guardScope) are scanned on the thread pool meanwhile.
 */
async function collectTree(tree: FrozenTree, tracker: DirtyTracker, before: Before): Promise<CollectedState[]> {
  const running = runningPids(tree);
  const layouts = running.map((pid) => {
    const tids = tree.tids.get(pid)!;
    suspendFilters(pid, tids); // before the first injected syscall
    return collectLayout(pid, tids[0]!, before.vmas.get(pid) ?? checkNewMember(pid, running, before.choices), before.slots);
  });
  const parents = running.map((pid) => (before.parents.has(pid) ? before.parents.get(pid)! : parentOf(before.parent, tree.members[0]!.pid, pid)));
  const guardScopes = running.map((_, i) => tracker.guardScope?.(layouts[i]!.vmas, trackedParent(parents[i]!, tracker)) ?? []);
  const guards = running.map((pid, i) => scanGuards(pid, subtractRuns(savedRuns(layouts[i]!.vmas), guardScopes[i]!)));
  guards.forEach((scan) => scan.catch(() => undefined)); // a failure is thrown where it is awaited, below, not reported as unhandled if collecting fails first
  const budget = new FileBudget(tree.members[0]!.stat.startTime);
  const tasks = running.map((pid) => collectTask(pid, tree.tids.get(pid)!, frozenStat(tree, pid), budget));
  const sockets = collectTreeSockets(tree, tasks, before); // before the trackers re-arm: a refusal leaves their history whole
  const members = running.map((pid, i) => ({ pid, vmas: layouts[i]!.vmas, files: tasks[i]!.files, shared: tasks[i]!.shared }));
  const treeShared = collectTreeSharedFds(members);
  const files = new TreeShmemFiles(members);
  const savers = pageSavers(members, files.recordOnly);

  const records = files.records(savers);
  const ghosts = new TreeGhostFiles(members.map((m) => ({ ...m, files: m.files.filter((f) => !before.choices.handedOver.has(f.fd)) }))).records(); // a descriptor handed over is not saved
  const tracked = running.map((pid, i) => {
    const { childFaults } = frozenStat(tree, pid); // read at the freeze
    const sharing = { heldOpen: files.heldOpen, sharedDoubt: sharedDoubt(pid, tree.members, before.parent, tasks[i]!.signals), childFaults };
    return trackMemory(pid, layouts[i]!, tracker, parents[i]!, sharing);
  });
  const memberPids = new Set(tree.members.map((m) => m.pid));
  const results = answers(tracked, savers, () => before.parent?.sharedMappings() ?? []);
  const guarded = await Promise.all(guards);
  const vouched = await Promise.all(running.map((pid, i) => vouchedGuards(pid, guardScopes[i]!, results[i]!)));
  return running.map((pid, i) => {
    const parent = parents[i]!;
    const memory = memoryOf(tracked[i]!, results[i]!, tracker, savers);
    const restarts = asInterrupted(tasks[i]!.threads, parent?.threads ?? []);
    const own = treeShared.get(pid) ?? [];
    const sharers = [...tasks[i]!.shared, ...own]; // an earlier process's section has those it shares
    const epolls = collectEpolls(pid, tasks[i]!.files, sharers);
    const inotify = collectInotify(pid, tasks[i]!.files, sharers);
    const pidfds = collectPidfds(pid, tasks[i]!.files, tasks[i]!.shared, memberPids, before.choices.handedOver);
    const warnings = [...tasks[i]!.warnings, ...restarts.warnings, ...inotifyWarnings(pid, tasks[i]!.files, sharers)];
    const { memorySettings, ...task } = tasks[i]!;
    return { pid, tids: tree.tids.get(pid)!, parent, ...memory, ...task, memoryAttrs: withGuards(memorySettings, guarded[i]!, vouched[i]!), threads: restarts.threads, warnings, sockets: sockets.unix.get(pid) ?? [], inetSockets: sockets.inet.get(pid) ?? [], tcpConnections: sockets.connections.get(pid) ?? [], shmemFiles: records.get(pid) ?? [], ghostFiles: ghosts.get(pid) ?? [], treeShared: own, epolls, inotify, pidfds };
  });
}

/**
 * The guard regions of the pages a tracker answers for (guardScope): its answer's, made after
 * the thaw, or, where it could not tell them (its history broken), a scan of them now.
 */
async function vouchedGuards(pid: number, scope: PageRun[], result: DirtyResult | LaterAnswer): Promise<() => PageRun[]> {
  if (typeof result !== "function" && result.guards) return result.guards;
  const scanned = await scanGuards(pid, scope);
  return () => scanned;
}

/**
 * The UNIX and network sockets of the frozen tree, each in its first holder's section; refused as
 * `cr check` would have (a socket connected or sent descriptors since it ran). Their warnings go
 * with the root's.
 */
function collectTreeSockets(tree: FrozenTree, tasks: { files: FdEntry[]; warnings: string[] }[], { choices, locks }: Before): { unix: Map<number, UnixSocketRecord[]>; inet: Map<number, InetSocketRecord[]>; connections: Map<number, TcpConnectionRecord[]> } {
  const running = runningPids(tree);
  const held = running.map((pid, i) => ({ pid, files: tasks[i]!.files }));
  const unix = collectUnixSockets(held, choices.handedOver);
  const inet = collectInetSockets(held, choices.handedOver, choices, locks);
  const root = tree.members[0]!;
  const problems = [...unix.problems, ...inet.problems].map(({ pid, ...p }) => (pid === root.pid ? p : { ...p, resource: `process ${pid}: ${p.resource}` }));
  refuseUnsupported({ pid: root.pid, comm: root.comm, problems });
  tasks[0]!.warnings.push(...unix.warnings, ...inet.warnings);
  return { unix: unix.records, inet: inet.records, connections: inet.connections };
}

/** A process that appeared after `cr check` ran (forked meanwhile): checked now, frozen. */
function checkNewMember(pid: number, members: number[], choices: SaveChoices): Vma[] {
  const { report, vmas } = checkMember(pid, new Set(members), choices);
  refuseUnsupported(report);
  return vmas!;
}

/** The frozen process's mappings, and cr's trampoline in it. */
interface Layout {
  leader: number;
  vmas: Vma[];
  slot: HistorySlot;
}

/** `slots` gets the layout's history slot: the snapshot closes them when it ends. */
function collectLayout(pid: number, leader: number, seen: Vma[], slots: HistorySlot[]): Layout {
  const changed = collectVmasSince(pid, seen);
  const area = scratch(leader); // the trampoline is created if the process has none yet
  const slot = openHistorySlot(pid, area);
  slots.push(slot);
  return { leader, vmas: markTrampoline(changed, area.trampoline), slot };
}

/**
 * The frozen process's memory as its tracker sees it (and re-arms it); a tracker that only reads
 * the pages answers when the plan is made, from a frozen copy of them where one is (MemoryPlan).
 */
function trackMemory(pid: number, { leader, vmas, slot }: Layout, tracker: DirtyTracker, parent: ParentImage | null, shared: Pick<TrackContext, "heldOpen" | "sharedDoubt" | "childFaults">) {
  const trackContext: TrackContext = { pid, tid: leader, vmas, slot, parent: trackedParent(parent, tracker), ...shared };
  const later: LaterAnswer = (from) => tracker.collectDirty({ ...trackContext, pid: from });
  return { pid, vmas, parent, trackContext, result: tracker.readsPages ? later : tracker.collectDirty(trackContext) };
}

/**
 * The trackers' answers, the tree vouching for the shared objects they saw written
 * (vouchForSharedObjects). A tracker that answers later sees no shared writes: nothing to vouch for.
 */
function answers(tracked: ReturnType<typeof trackMemory>[], savers: PageSavers, parentMappings: () => SavedMapping[]): (DirtyResult | LaterAnswer)[] {
  const now = tracked.flatMap(({ result, ...member }) => (typeof result === "function" ? [] : [{ ...member, result }]));
  return now.length === tracked.length ? vouchForSharedObjects(now, savers, parentMappings) : tracked.map((t) => t.result);
}

/**
 * The frozen process's memory: what the tracker says (and the tree, of the shared objects it
 * saves: vouchForSharedObjects), and which pages to save, planned when first needed
 * (MemoryPlan). Shared objects' pages are saved once, by their page saver.
 */
function memoryOf({ pid, vmas, trackContext }: ReturnType<typeof trackMemory>, result: DirtyResult | LaterAnswer, tracker: DirtyTracker, savers: PageSavers) {
  return {
    vmas,
    memory: new MemoryPlan(vmas, result, () => savedElsewhere(pid, vmas, savers)),
    trackerName: tracker.name,
    trackContext,
  };
}

/** The tracker's answer as the image records it; its state made from the pages as `saved`, where they can be read after the thaw. */
function trackerOutcome(result: DirtyResult, parent: ParentImage | null, saved: SavedPages | undefined): TrackerOutcome {
  const { state } = result;
  return { ...(state ? { trackerState: async () => state(saved) } : {}), ...(parent && result.allDirtyReason ? { fullReason: result.allDirtyReason } : {}) };
}

/**
 * The member with its memory planned, and what its tracker answered (read once its scan ran:
 * DirtyResult.pendingScan). `source`: where its planned pages are read, once the tree is thawed.
 */
function withPlan(state: Omit<CollectedState, "memory">, { answer, ...planned }: PlannedMemory, source: PageSource | undefined): FrozenState {
  return { ...state, ...planned, ...trackerOutcome(answer, state.parent, source && { runs: planned.plan.data, read: source }) };
}

/** The parent as the tracker sees it. */
function trackedParent(parent: ParentImage | null, tracker: DirtyTracker): TrackContext["parent"] {
  return parent ? { identity: parent.identity, state: parent.trackerState(tracker.name), dataRuns: parent.dataRuns, changedRuns: parent.changedRuns, guards: parent.guards, restarted: parent.restarted } : null;
}

/** Each member's pages, for securePages: planned there only when it must be while frozen. */
function pagesToSecure(tree: FrozenTree, collected: CollectedState[]): FrozenPages[] {
  const forkable = copiesLeaveTree(tree, collected);
  return collected.map((s, i) => {
    const pending = s.memory.pending(s.pid);
    return { pid: s.pid, leader: s.tids[0]!, vmas: s.vmas, forkable: forkable[i]!, get changedPages() { return s.memory.changedPages; }, data: () => s.memory.of(s.pid).plan.data, ...(pending ? { pending } : {}) };
  });
}

/**
 * Per member, whether its frozen copy, an orphan, goes out of the tree (secure-pages.ts,
 * FrozenPages.forkable): no child subreaper on its way up the tree would take it in.
 */
function copiesLeaveTree(tree: FrozenTree, states: CollectedState[]): boolean[] {
  const subreaper = new Set(states.filter((s) => s.attrs?.childSubreaper).map((s) => s.pid));
  const parentOf = new Map(tree.members.map((m) => [m.pid, m.ppid]));
  return states.map((s) => {
    for (let pid: number | undefined = s.pid; pid !== undefined; pid = parentOf.get(pid)) if (subreaper.has(pid)) return false;
    return true;
  });
}

/**
 * Each member reaped its frozen copy's go-between (secure-pages.ts) while frozen: the tracker
 * state its image records (made from the context when the image is written) expects those page
 * faults among its reaped children's.
 */
function expectReaped(states: CollectedState[], reapedFaults: bigint[]): void {
  states.forEach((state, i) => (state.trackContext.childFaults += reapedFaults[i]!));
}

/** A member's stat, as the freeze read it. */
function frozenStat(tree: FrozenTree, pid: number): ProcStat {
  return tree.members.find((m) => m.pid === pid)!.stat;
}

/** The frozen process's state other than memory: process-wide, per thread, signals, files. */
function collectTask(pid: number, tids: number[], stat: ProcStat, budget: FileBudget) {
  const info = collectProcess(pid);
  const files = collectFiles(pid, info.rlimits).filter((f) => !f.internal);
  const shared = collectSharedFds(pid, files);
  const ptyMasters = collectPtyMasters(pid, files, shared);
  const asked = askProcess(pid, tids, info);
  const { timers, warnings } = asked.timers();
  return {
    info,
    files,
    shared,
    owners: collectOwners(pid, files, shared),
    eventfds: collectEventfds(pid, files, shared),
    terminals: collectTerminals(pid, files, stat),
    ptyMasters,
    timerfds: collectTimerfds(pid, files, shared),
    signalfds: collectSignalfds(pid, files, shared),
    pipes: collectPipeData(pid, files),
    pipeSizes: collectPipeSizes(pid, files),
    removed: collectRemoved(pid, files),
    contents: collectFileContents(pid, files, budget),
    threads: tids.map((tid, i) => (i === 0 ? asked.leader() : collectThread(pid, tid))),
    signals: asked.signals(),
    brk: asked.brk.raw,
    attrs: asked.attrs(),
    timers,
    warnings: [...warnings, ...ptyWarnings(pid, ptyMasters)],
    seccomp: collectSeccomp(pid, tids),
    memorySettings: asked.memorySettings(),
  };
}

/** What of the process only its leader (`tids[0]`) can say, asked of it in one run of queries (Queries). */
function askProcess(pid: number, tids: number[], info: ProcessInfo) {
  const queries = new Queries(pid, tids[0]!);
  const asked = {
    leader: askThread(queries),
    signals: askSignals(queries, info.signals.caught, info.signals.ignored),
    brk: queries.ask("brk", [0n], "brk"),
    attrs: askAttrs(queries, tids),
    timers: askTimers(queries),
    memorySettings: askMemorySettings(queries),
  };
  queries.run();
  return asked;
}

function writeImage(image: ImageTarget, tree: FrozenTree, states: FrozenState[], pages: PageSource[]) {
  return withImageSink(image.fd, image.path, dirtyPages(states) * PAGE_SIZE, (sink) => writeImageTo(sink, image, tree, states, pages));
}

/**
 * One section per running member (an image of one process has no PROCESS_TABLE: it reads as
 * before). The maps' columns are on memory earlier snapshots gave back (column-memory.ts).
 */
async function writeImageTo(sink: ImageSink, image: ImageTarget, tree: FrozenTree, states: FrozenState[], pages: PageSource[]) {
  const loan = new ColumnLoan();
  try {
    // REFERENCES come before the data, so compute the maps' inherited parts first.
    const inherited = states.map((s) => (s.parent ? s.parent.inherit(s.unchanged, loan.memory) : NOTHING_INHERITED));
    const references = unionReferences(inherited.map((i) => i.references));
    const writer = imageWriter(sink, image, tree, references);
    const progress = treeProgress(states, image.onProgress);
    const maps: WrittenMap[] = [];
    for (const [i, state] of states.entries()) {
      if (tree.members.length > 1) await writer.beginMember(state.pid);
      await writeRecords(writer, state);
      const changes = await writeData(writer, state.plan.data, pages[i]!, image.codec, progress(i));
      for (const run of state.plan.file) changes.push({ source: "file", vaddr: run.start, pages: run.pages, fileOffset: Number(run.fileOffset) });
      maps.push({ columns: childPageMap(changes, inherited[i]!, loan.memory), holders: inherited[i]!.holders });
      await writer.writePageMapColumns(maps[i]!.columns, inherited[i]!.holders);
    }
    const finished = await writer.finish();
    rememberWrittenMaps(image.crid, finished.identity, references, maps); // the next snapshot's parent (--interval)
    loan.giveBack(maps.map((m) => m.columns)); // those are the remembered maps' now
    return finished;
  } finally {
    loan.giveBack(); // all of it, after a failure
  }
}

function imageWriter(sink: ImageSink, image: ImageTarget, tree: FrozenTree, references: Reference[]): ImageWriter {
  return new ImageWriter(sink, {
    header: {
      crid: image.crid,
      parentCrid: image.parent?.crid ?? 0n,
      parentIdentity: image.parent?.identity ?? 0n,
      pageSize: PAGE_SIZE,
      arch: "x86_64",
      kernelRelease: release(),
      toolVersion: TOOL_VERSION,
    },
    references,
    ...(tree.members.length > 1 ? { processTable: processTable(tree) } : {}),
  });
}

/** The member's section records, each object's (objects/index.ts), in table order. */
async function writeRecords(writer: ImageWriter, state: FrozenState): Promise<void> {
  const writes: (() => Promise<number>)[] = [];
  const tracker = state.trackerState ? { name: state.trackerName, state: await state.trackerState() } : undefined;
  saveSection(sectionOf(state, tracker), (type, value) => writes.push(() => writer.writeRecord(type, value)));
  for (const write of writes) await write();
}

/** What the member's section holds, from what the freeze collected. */
function sectionOf(state: FrozenState, tracker: ProcessSection["tracker"]): ProcessSection {
  const asIs = Object.fromEntries(SAVED_AS_IS.map((k) => [k, state[k]])) as Pick<ProcessSection, (typeof SAVED_AS_IS)[number]>;
  return {
    ...asIs,
    process: processRecord(state.info, state.brk),
    vmas: state.vmas.filter((v) => !v.internal).map(vmaRecord),
    files: state.files.map(fdRecord),
    locks: lockRecords(state.files, state.shared),
    shared: new Map(state.shared.map((s) => [s.fd, s.sameAs])),
    tracker,
  };
}

/** Every image the members' maps refer to, once, by CRID. */
function unionReferences(lists: Reference[][]): Reference[] {
  const byCrid = new Map(lists.flat().map((r) => [r.crid, r]));
  return [...byCrid.values()].sort((a, b) => (a.crid < b.crid ? -1 : 1));
}

/** Progress over the whole tree: member i's bytes count after those of the members before it. */
function treeProgress(states: FrozenState[], onProgress: OnProgress | undefined): (i: number) => OnProgress | undefined {
  if (!onProgress) return () => undefined;
  const bytes = states.map((s) => totalPages(s.plan.data) * PAGE_SIZE);
  const total = bytes.reduce((a, b) => a + b, 0);
  return (i) => {
    const done = bytes.slice(0, i).reduce((a, b) => a + b, 0);
    return (written, _all, what) => onProgress(done + written, total, what);
  };
}

/**
 * Writes the data pages in full blocks of BLOCK_PAGES: a block holds pages of any addresses
 * (the page map says which), so scattered dirty pages do not each pay a block's alignment.
 */
export async function writeData(writer: ImageWriter, runs: PageRun[], source: PageSource, codec: "raw" | "lz4", onProgress?: OnProgress): Promise<PageMapEntry[]> {
  const entries: PageMapEntry[] = [];
  const total = totalPages(runs);
  const written = (block: DataBlock, at: number) => {
    let firstPage = 0;
    for (const r of block.runs) {
      entries.push({ source: "data", vaddr: r.start, pages: r.pages, block: at, firstPage });
      firstPage += r.pages;
    }
    onProgress?.(Math.min(block.first + BLOCK_PAGES, total) * PAGE_SIZE, total * PAGE_SIZE, "saving memory");
  };
  await writeBlocks(writer, dataBlocks(runs), source, codec, written);
  return entries;
}

/** One PAGES block's pages: page index `first` of the data runs on, BLOCK_PAGES of them (fewer in the last). */
interface DataBlock {
  first: number;
  runs: PageRun[];
}

function* dataBlocks(runs: PageRun[]): Generator<DataBlock> {
  const total = totalPages(runs);
  let run = 0;
  let inRun = 0;
  for (let first = 0; first < total; first += BLOCK_PAGES) {
    const blockRuns: PageRun[] = [];
    for (let filled = 0; filled < Math.min(BLOCK_PAGES, total - first); ) {
      const pages = Math.min(BLOCK_PAGES - filled, total - first - filled, runs[run]!.pages - inRun);
      blockRuns.push({ start: runs[run]!.start + BigInt(inRun * PAGE_SIZE), pages });
      filled += pages;
      inRun += pages;
      if (inRun === runs[run]!.pages) {
        run++;
        inRun = 0;
      }
    }
    yield { first, runs: blockRuns };
  }
}

/** Blocks read (and compressed) at once on the pool, its 4 threads, while this thread writes the oldest. */
const BLOCKS_IN_FLIGHT = 4;

/** A block ready to write: its bytes, the hash of its body, and its LZ4 body where it has one. */
interface ReadyBlock {
  data: Buffer;
  hash: bigint;
  compressed?: Buffer;
}

/**
 * Reads, hashes and (lz4) compresses BLOCKS_IN_FLIGHT blocks at once on libuv's pool and the
 * other core, and writes them in order: reading a frozen copy costs ~1-4 µs a page here, more
 * than hashing and writing it.
 */
async function writeBlocks(writer: ImageWriter, blocks: Iterable<DataBlock>, source: PageSource, codec: "raw" | "lz4", written: (block: DataBlock, at: number) => void): Promise<void> {
  const slots = takeSlots(codec);
  const pending: { block: DataBlock; ready: Promise<ReadyBlock> }[] = [];
  const writeOldest = async () => {
    const { block, ready } = pending.shift()!;
    const { data, hash, compressed } = await ready;
    const vaddr = block.runs[0]!.start;
    written(block, compressed ? await writer.writeCompressedPages(vaddr, compressed, data.length, hash) : await writer.writeCheckedPages(vaddr, data, hash));
  };
  try {
    let next = 0;
    for (const block of blocks) {
      if (pending.length === BLOCKS_IN_FLIGHT) await writeOldest(); // its slot is the one used next
      const slot = slots[next++ % BLOCKS_IN_FLIGHT]!;
      const ready = source(block.runs, block.first, slot.src).then((data) => readyBlock(data, codec === "lz4" ? slot.dst : undefined));
      ready.catch(() => undefined); // a failure is thrown where it is awaited (writeOldest), not reported as unhandled before
      pending.push({ block, ready });
    }
    while (pending.length > 0) await writeOldest();
  } finally {
    // Nothing may still be reading into or compressing from a slot when this returns, even after a failure.
    await Promise.allSettled(pending.map((p) => p.ready));
    freeSlots.push(...slots);
  }
}

/** Where a block in flight is read (`src`) and compressed (`dst`, lz4). */
interface BlockSlot {
  src: Buffer;
  dst?: Buffer;
}

/** Slots of earlier writes (`--interval`, a tree's members): fresh memory costs ~2.4 ms per MiB here. */
const freeSlots: BlockSlot[] = [];

/** BLOCKS_IN_FLIGHT slots, with room to compress into for lz4; given back by freeSlots.push. */
function takeSlots(codec: "raw" | "lz4"): BlockSlot[] {
  const bytes = BLOCK_PAGES * PAGE_SIZE;
  return Array.from({ length: BLOCKS_IN_FLIGHT }, () => {
    const slot = freeSlots.pop() ?? { src: Buffer.allocUnsafe(bytes) };
    if (codec === "lz4") slot.dst ??= Buffer.allocUnsafe(Math.floor(bytes * LZ4_KEEP_RATIO));
    return slot;
  });
}

/** The block hashed, and with `dst` compressed on the pool where it shrinks to LZ4_KEEP_RATIO (the writer's own rule). */
async function readyBlock(data: Buffer, dst: Buffer | undefined): Promise<ReadyBlock> {
  if (!dst) return { data, hash: xxh64(data) };
  const room = dst.subarray(0, Math.floor(data.length * LZ4_KEEP_RATIO));
  const [length, hash] = await lz4CompressBlock(data, room);
  return length < 0 ? { data, hash } : { data, hash, compressed: room.subarray(0, length) };
}

/** A raw block of pages, hashed in native code (~9 GB/s, the format's wasm hash ~5). */
export function writeRawBlock(writer: ImageWriter, vaddr: bigint, data: Buffer): Promise<number> {
  return writer.writeCheckedPages(vaddr, data, xxh64(data));
}

/** A tree is killed only if restart would accept its image: else it runs on, and cr says why. */
function confirmBeforeKill(states: FrozenState[], crid: bigint, handedOver: ReadonlySet<number>): void {
  const made = new Set(states.flatMap((s) => [...s.shmemFiles, ...s.ghostFiles].map(objectKey)));
  for (const state of states) {
    const leased = lockRecords(state.files, state.shared).filter((l) => l.kind === LockKind.LEASE).map((l) => l.fd);
    const unprobed = new Set([...leased, ...handedOver]);
    const objects = { cwd: state.info.cwd, vmas: state.vmas.filter((v) => !v.internal).map(vmaRecord), fds: state.files.map(fdRecord), removed: state.removed, unprobed, made };
    try {
      confirmRestorable(objects, crid, { force: false, keepFiles: true, inherited: new Map() });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CrError(`process ${state.pid} not killed: a restart of its image would fail: ${reason}`, { code: "NOT_RESTORABLE", pid: state.pid, crid, cause: error });
    }
  }
}

/**
 * Kills the frozen tree, children first, and waits for the root to be reaped (a restart right
 * after needs its PID free); returns the parent that has not reaped it by then, or null.
 */
async function killTree(tree: FrozenTree, rootKey: string): Promise<number | null> {
  const root = tree.members[0]!.pid;
  for (const [pid, tids] of [...tree.tids].reverse()) {
    // A target spawned by this very process (a test, an embedding program) is reaped by its spawner.
    killTraced([pid, ...tids.filter((t) => t !== pid)], readStat(pid).ppid !== process.pid);
  }
  const others = tree.members.slice(1).map((m) => waitReaped(m.pid, `${m.pid}:${m.stat.startTime}`));
  const [unreaped] = await Promise.all([waitReaped(root, rootKey), ...others]);
  return unreaped;
}

function refuseUnsupported(report: Pick<CheckReport, "pid" | "comm" | "problems">): void {
  if (report.problems.length === 0) return;
  const reasons = report.problems.map((p) => `${p.resource}: ${p.reason}`).join("; ");
  throw new CrError(`process ${report.pid} (${report.comm}) cannot be checkpointed: ${reasons}`, { code: "UNSUPPORTED", pid: report.pid });
}

/**
 * Tells each member's tracker its history continues from the stored image. A member that exited
 * or exec'd since the freeze has no next snapshot to continue from it: its slot reaches nothing
 * (history.ts), and the image stands.
 */
function recordCommitted(tracker: DirtyTracker, run: Checkpointed): void {
  for (const state of run.states) tracker.committed(state.trackContext, run.identity);
}

/** Before the kill: each saved connection's socket closes without a word to its peer. */
function silenceConnections(states: FrozenState[]): void {
  for (const { pid, files, tcpConnections } of states) {
    for (const c of tcpConnections) silenceConnection(pid, files.find((f) => f.ino === c.inode)!.fd);
  }
}

/** One incarnation of a process: a pid is reused, a pid with its start time is not. */
export function processKey(pid: number): string {
  return `${pid}:${readStat(pid).startTime}`;
}

/** Whether the incarnation `key` of `pid` still runs: not exited, not a zombie, its PID not reused. */
export function stillRuns(pid: number, key: string): boolean {
  const stat = statOf(pid, key);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/** The stat of the incarnation `key` of `pid`, or undefined once it is reaped (its PID free or reused). */
function statOf(pid: number, key: string): ProcStat | undefined {
  const stat = statIfExists(pid);
  return stat && `${pid}:${stat.startTime}` === key ? stat : undefined;
}

/** How long cr waits for a killed process to be reaped: PID 1 reaps orphans in about 2 s here. */
export const REAP_WAIT_MS = 3000;

/**
 * Waits up to `ms` for the incarnation `key` of `pid`, killed, to be reaped by its parent; returns
 * the PID of a parent that has not reaped it by then, or null once the PID is free.
 */
export async function waitReaped(pid: number, key: string, ms = REAP_WAIT_MS): Promise<number | null> {
  const deadline = performance.now() + ms;
  for (;;) {
    const stat = statOf(pid, key);
    if (stat === undefined) return null;
    if (performance.now() > deadline) return stat.ppid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

import { closeSync } from "node:fs";
import { release } from "node:os";
import { performance } from "node:perf_hooks";
import { freeze, injectSyscall, probeKernel, thaw } from "@cr/native";
import { ImageWriter, type PageMapEntry, type SignalsRecord, type ThreadRecord } from "@cr/format";
import { checkProcess, type CheckReport } from "./check.js";
import { CrError } from "./errors.js";
import { collectFiles } from "./files.js";
import { fdRecord, processRecord, vmaRecord } from "./image-records.js";
import { SYS } from "./inject.js";
import { copyPages, planPages, savedRuns, type PagePlan } from "./memory.js";
import { PAGE_SIZE, subtractRuns, totalPages, type PageRun } from "./pages.js";
import { childPageMap, openParent, type ParentImage } from "./parent.js";
import { collectSignals } from "./signals.js";
import { DEFAULT_BRANCH, Store, storeDir, type LogEntry } from "./store.js";
import { collectProcess, readStat, type ProcessInfo } from "./task.js";
import { collectThread } from "./threads.js";
import { chooseTracker, createTracker, type DirtyTracker, type TrackContext, type TrackerName } from "./trackers/index.js";
import { historySlot } from "./trackers/history.js";
import { TOOL_VERSION } from "./version.js";
import { collectVmas, collectVmasSince, type Vma } from "./vmas.js";
import type { FdEntry } from "./files.js";

export interface SnapshotOptions {
  store?: string;
  branch?: string;
  incremental: boolean;
  tracker?: TrackerName;
  /** What happens to the process once its image is stored. */
  after?: "leave-running" | "kill";
  codec?: "raw" | "lz4";
}

export interface SnapshotResult {
  crid: bigint;
  parent: bigint | null;
  pid: number;
  tracker: TrackerName;
  trackerReason: string;
  /** Why every page was saved although an increment was asked for. */
  fullReason?: string;
  dirtyPages: number;
  bytes: number;
  downtimeMs: number;
  totalMs: number;
}

/** Pages per PAGES block: large enough for fast I/O, small enough to read back one at a time. */
const BLOCK_PAGES = 256;

/**
 * Checkpoint a live process (design.md decision 7): freeze, collect its state and the changed
 * pages into memory, unfreeze, and only then write and commit the image. The target is harmed
 * by nothing that fails; with `after: "kill"` it stays frozen until its image is durable.
 */
export async function snapshot(pid: number, options: SnapshotOptions): Promise<SnapshotResult> {
  const started = performance.now();
  refuseUnsupported(await checkProcess(pid));
  const store = Store.open(storeDir(options.store), { create: true });
  const branch = options.branch ?? DEFAULT_BRANCH;
  const key = processKey(pid);
  const parent = options.incremental ? openParent(store, branch, key) : null;
  try {
    const choice = chooseTracker(probeKernel(), options.tracker);
    const tracker = createTracker(choice.name);
    const kill = options.after === "kill";
    const frozen = freezeAndCollect(pid, tracker, parent, kill, prepare(pid, parent));
    try {
      const { crid, identity, bytes } = await writeAndCommit(store, branch, frozen, parent, options.codec ?? "raw", (crid, bytes) => ({
        crid: String(crid),
        parent: parent ? String(parent.crid) : null,
        time: new Date().toISOString(),
        bytes,
        dirtyPages: totalPages(frozen.state.plan.data),
        downtimeMs: frozen.downtimeMs,
        totalMs: performance.now() - started,
        tracker: choice.name,
        pid,
        processKey: key,
      }));
      if (kill) process.kill(pid, "SIGKILL");
      else tracker.committed(frozen.state.trackContext, identity);
      return {
        crid,
        parent: parent?.crid ?? null,
        pid,
        tracker: choice.name,
        trackerReason: choice.reason,
        ...(frozen.state.fullReason ? { fullReason: frozen.state.fullReason } : {}),
        dirtyPages: totalPages(frozen.state.plan.data),
        bytes,
        downtimeMs: kill ? performance.now() - frozen.frozenAt : frozen.downtimeMs,
        totalMs: performance.now() - started,
      };
    } finally {
      if (kill) thaw(frozen.tids);
    }
  } finally {
    parent?.close();
  }
}

async function writeAndCommit(store: Store, branch: string, frozen: Frozen, parent: ParentImage | null, codec: "raw" | "lz4", entry: (crid: bigint, bytes: number) => LogEntry) {
  const crid = store.allocateCrid();
  const fd = store.createImageFile(branch);
  try {
    const { identity, bytes } = await writeImage(fd, crid, frozen.state, parent, codec);
    store.commitImage(branch, fd, entry(crid, bytes));
    return { crid, identity, bytes };
  } finally {
    closeSync(fd);
  }
}

/** What is read while the target still runs, to keep it out of the downtime. */
interface Before {
  /** The mappings (smaps walks every page table: too slow to read frozen when avoidable). */
  vmas: Vma[];
  /** Where the copied pages go: allocated and faulted in now, sized from the parent. */
  buffer: Buffer | undefined;
}

function prepare(pid: number, parent: ParentImage | null): Before {
  const vmas = collectVmas(pid);
  // An increment rarely exceeds the one before it by much; a larger one allocates while frozen.
  const pages = parent ? Math.ceil(parent.changedPages * 1.5) + 256 : 0;
  return { vmas, buffer: pages > 0 ? Buffer.alloc(pages * PAGE_SIZE) : undefined };
}

/** Everything collected while the target was frozen. */
interface FrozenState {
  info: ProcessInfo;
  brk: bigint;
  vmas: Vma[];
  files: FdEntry[];
  threads: ThreadRecord[];
  signals: SignalsRecord;
  plan: PagePlan;
  unchanged: PageRun[];
  data: Buffer;
  trackerState?: Uint8Array;
  trackerName: TrackerName;
  trackContext: TrackContext;
  fullReason?: string;
}

interface Frozen {
  state: FrozenState;
  tids: number[];
  frozenAt: number;
  downtimeMs: number;
}

/** Freeze, collect, thaw (unless the process is to be killed): the downtime is this function. */
function freezeAndCollect(pid: number, tracker: DirtyTracker, parent: ParentImage | null, keepFrozen: boolean, before: Before): Frozen {
  const frozenAt = performance.now();
  const tids = freeze(pid);
  let state: FrozenState;
  try {
    state = collect(pid, tids, tracker, parent, before);
  } catch (error) {
    thaw(tids);
    throw error;
  }
  if (!keepFrozen) thaw(tids);
  return { state, tids, frozenAt, downtimeMs: performance.now() - frozenAt };
}

function collect(pid: number, tids: number[], tracker: DirtyTracker, parent: ParentImage | null, before: Before): FrozenState {
  const leader = tids[0]!;
  const info = collectProcess(pid);
  const vmas = collectVmasSince(pid, before.vmas);
  const files = collectFiles(pid).filter((f) => !f.internal);
  const threads = tids.map((tid) => collectThread(pid, tid));
  const signals = collectSignals(pid, leader, info.signals.caught, info.signals.ignored);
  const brk = injectSyscall(leader, SYS.brk, [0n]);
  const trackContext: TrackContext = {
    pid,
    tid: leader,
    vmas,
    slot: historySlot(leader),
    parent: parent ? { identity: parent.identity, state: parent.trackerState(tracker.name), dataRuns: parent.dataRuns } : null,
  };
  const result = tracker.collectDirty(trackContext);
  // Only what the tracker does not vouch for is looked at again: presence, then bytes.
  const plan = planPages(pid, vmas, subtractRuns(savedRuns(vmas), result.unchanged));
  const data = copyPages(pid, plan.data, before.buffer);
  return {
    info,
    brk,
    vmas,
    files,
    threads,
    signals,
    plan,
    unchanged: result.unchanged,
    data,
    trackerName: tracker.name,
    trackContext,
    ...(result.state ? { trackerState: result.state } : {}),
    ...(parent && result.allDirtyReason ? { fullReason: result.allDirtyReason } : {}),
  };
}

async function writeImage(fd: number, crid: bigint, state: FrozenState, parent: ParentImage | null, codec: "raw" | "lz4") {
  // REFERENCES come before the data, so compute the map's inherited part first.
  const inherited = parent ? parent.inherit(state.unchanged) : [];
  const writer = new ImageWriter(fd, {
    header: {
      crid,
      parentCrid: parent?.crid ?? 0n,
      parentIdentity: parent?.identity ?? 0n,
      pageSize: PAGE_SIZE,
      arch: "x86_64",
      kernelRelease: release(),
      toolVersion: TOOL_VERSION,
    },
    references: parent ? parent.referencesFor(inherited) : [],
  });
  await writer.writeRecord("PROCESS", processRecord(state.info, state.brk));
  await writer.writeRecord("VMAS", { vmas: state.vmas.filter((v) => !v.internal).map(vmaRecord) });
  for (const thread of state.threads) await writer.writeRecord("THREAD", thread);
  await writer.writeRecord("SIGNALS", state.signals);
  await writer.writeRecord("FILES", { fds: state.files.map(fdRecord) });
  if (state.trackerState) await writer.writeRecord("TRACKER", { name: state.trackerName, state: state.trackerState });
  const changes = await writeData(writer, state.plan.data, state.data, codec);
  for (const run of state.plan.zero) changes.push({ source: "zero", vaddr: run.start, pages: run.pages });
  for (const run of state.plan.file) changes.push({ source: "file", vaddr: run.start, pages: run.pages, fileOffset: Number(run.fileOffset) });
  await writer.writePageMap(childPageMap(changes, inherited));
  return writer.finish();
}

/**
 * Writes the copied pages in full blocks of BLOCK_PAGES: a block holds pages of any addresses
 * (the page map says which), so scattered dirty pages do not each pay a block's alignment.
 */
async function writeData(writer: ImageWriter, runs: PageRun[], data: Buffer, codec: "raw" | "lz4"): Promise<PageMapEntry[]> {
  const entries: PageMapEntry[] = [];
  const total = totalPages(runs);
  let run = 0;
  let inRun = 0;
  for (let first = 0; first < total; first += BLOCK_PAGES) {
    const count = Math.min(BLOCK_PAGES, total - first);
    const block = await writer.writePages(runs[run]!.start + BigInt(inRun * PAGE_SIZE), data.subarray(first * PAGE_SIZE, (first + count) * PAGE_SIZE), codec);
    for (let filled = 0; filled < count; ) {
      const pages = Math.min(count - filled, runs[run]!.pages - inRun);
      entries.push({ source: "data", vaddr: runs[run]!.start + BigInt(inRun * PAGE_SIZE), pages, block, firstPage: filled });
      filled += pages;
      inRun += pages;
      if (inRun === runs[run]!.pages) {
        run++;
        inRun = 0;
      }
    }
  }
  return entries;
}

function refuseUnsupported(report: CheckReport): void {
  if (report.problems.length === 0) return;
  const reasons = report.problems.map((p) => `${p.resource}: ${p.reason}`).join("; ");
  throw new CrError(`process ${report.pid} (${report.comm}) cannot be checkpointed: ${reasons}`, { code: "UNSUPPORTED", pid: report.pid });
}

/** One incarnation of a process: a pid is reused, a pid with its start time is not. */
export function processKey(pid: number): string {
  return `${pid}:${readStat(pid).startTime}`;
}

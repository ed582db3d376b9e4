/**
 * `cr check PID`: every resource the target holds that cr cannot save yet, each with a reason a
 * user can act on (docs/design.md decision 9). Read-only: the target is never stopped or touched, and it
 * keeps running whatever this finds.
 */
import { NativeError } from "@cr/native";
import { CrError } from "./errors.js";
import { collectFiles, type FdEntry } from "./objects/files.js";
import { processNotes, processProblems } from "./objects/index.js";
import { requireProcess } from "./process/procfs.js";
import { isKernelThread, isZombie, readStat, readThreads } from "./objects/task.js";
import { processTree, type Member } from "./objects/tree.js";
import { unixSocketProblems, type HeldFiles } from "./objects/unix-sockets.js";
import { collectVmas, type Vma } from "./objects/vmas.js";

export interface Problem {
  /** What it is about: "process", "fd 5", "mapping 7f12...-7f12...". */
  resource: string;
  /** A short, stable name of the kind of problem ("socket", "traced", "shared-memory" ...). */
  kind: string;
  /** Why cr cannot save it and what the user can do, in one line. */
  reason: string;
}

/** Something cr saves, but that a user should know of before a restart (what it does with a terminal). */
export interface Note {
  resource: string;
  note: string;
}

export interface CheckReport {
  pid: number;
  comm: string;
  problems: Problem[];
  notes: Note[];
}

export interface TreeReport extends CheckReport {
  /** The process and its descendants, parents first: every one is checked. */
  processes: Member[];
}

export interface CheckOptions {
  /**
   * Descriptors the user hands over at restart (`cr restart --inherit-fd N:PATH`), by number in
   * every process: whatever they are now is not saved, so it is no problem.
   */
  handedOver?: ReadonlySet<number>;
  /**
   * Leave the tree's UNIX sockets to a later judgement of the frozen tree (a snapshot's): judged
   * while the tree runs, a connection being accepted is in neither the listener's queue nor the
   * acceptor's descriptors, and its client seems connected outside the tree.
   */
  socketsJudgedFrozen?: boolean;
  /** --tcp-close: TCP connections are saved as closed sockets (inet-sockets.ts), so no problem. */
  tcpClose?: boolean;
  /** --tcp-established: established TCP connections are saved as they are (tcp-connections.ts). */
  tcpEstablished?: boolean;
}

/** What the user chose for what cr would otherwise refuse: it is saved another way, so no problem. */
export interface SaveChoices {
  handedOver: ReadonlySet<number>;
  tcpClose: boolean;
  tcpEstablished: boolean;
}

/**
 * Lists what would stop a checkpoint of `pid` and of each of its descendants (their resources
 * are named "process N: fd 5"). A nonexistent pid fails with CrError ESRCH ("no process N"); a
 * process that exits during the check fails with ESRCH naming the /proc path.
 */
export async function checkProcess(pid: number, options: CheckOptions = {}): Promise<TreeReport> {
  return (await checkTree(pid, options)).report;
}

/** Checks of a tree that grew while it was checked, before its report stands as it is. */
const CHECK_ATTEMPTS = 3;

/**
 * checkProcess, and the mappings it read of each running member (none when it stopped before
 * them): a snapshot starts from these instead of walking every page table a second time. A
 * report with problems is made again when the tree grew meanwhile: a child forked during the
 * check holds what its parent shares, and judged without it, that looks shared outside the tree.
 */
export async function checkTree(pid: number, options: CheckOptions = {}): Promise<{ report: TreeReport; vmas: Map<number, Vma[]> }> {
  for (let attempt = 1; ; attempt++) {
    const checked = checkTreeOnce(pid, options);
    if (checked.report.problems.length === 0 || attempt === CHECK_ATTEMPTS) return checked;
    const members = new Set(checked.report.processes.map((m) => m.pid));
    if (processTree(pid).every((m) => members.has(m.pid))) return checked;
  }
}

function checkTreeOnce(pid: number, options: CheckOptions): { report: TreeReport; vmas: Map<number, Vma[]> } {
  const handedOver = options.handedOver ?? new Set<number>();
  const choices = { handedOver, tcpClose: options.tcpClose ?? false, tcpEstablished: options.tcpEstablished ?? false };
  const tree = processTree(pid);
  const members = new Set(tree.map((m) => m.pid));
  const processes = tree.map(({ pid, ppid, comm }) => ({ pid, ppid, comm }));
  const vmas = new Map<number, Vma[]>();
  const root = checkMember(pid, members, choices);
  if (root.vmas === null) return { report: { ...root.report, processes: processes.slice(0, 1) }, vmas }; // a kernel thread, a zombie, cr: nothing below matters
  vmas.set(pid, root.vmas);
  const report: TreeReport = { ...root.report, processes };
  const named = <T extends { resource: string }>(member: number, p: T): T => (member === pid ? p : { ...p, resource: `process ${member}: ${p.resource}` });
  const held: HeldFiles[] = [{ pid, files: root.files }];
  for (const member of tree.slice(1).filter((m) => !isZombie(m.stat))) {
    const checked = checkIfRunning(member.pid, members, choices);
    if (!checked) continue; // exited since the tree was listed: not part of it any more
    report.problems.push(...checked.report.problems.map((p) => named(member.pid, p)));
    report.notes.push(...checked.report.notes.map((n) => named(member.pid, n)));
    if (checked.vmas) vmas.set(member.pid, checked.vmas);
    held.push({ pid: member.pid, files: checked.files });
  }
  // A socket is saved with its peer: the tree's sockets are judged together.
  if (!options.socketsJudgedFrozen) for (const { pid: member, ...problem } of unixSocketProblems(held, handedOver)) report.problems.push(named(member, problem));
  return { report, vmas };
}

/** checkMember, or undefined for a process that exits before or while it is checked. */
function checkIfRunning(pid: number, members: ReadonlySet<number>, choices: SaveChoices): ReturnType<typeof checkMember> | undefined {
  try {
    return checkMember(pid, members, choices);
  } catch (error) {
    if ((error instanceof CrError || error instanceof NativeError) && error.code === "ESRCH") return undefined;
    throw error;
  }
}

/**
 * One process's problems, its mappings (null when it stopped before them) and its descriptors.
 * `members`: the tree it is saved with; `choices`: what the user chose instead of a refusal. Each
 * kernel object judges itself (objects/index.ts); its UNIX sockets are judged with the tree's
 * (unixSocketProblems).
 */
export function checkMember(pid: number, members: ReadonlySet<number>, choices: SaveChoices): { report: CheckReport; vmas: Vma[] | null; files: FdEntry[] } {
  requireProcess(pid);
  const stat = readStat(pid);
  const report: CheckReport = { pid, comm: stat.comm, problems: [], notes: [] };
  const add = (resource: string, kind: string, reason: string): void => {
    report.problems.push({ resource, kind, reason });
  };
  if (isKernelThread(stat)) {
    add("process", "kernel-thread", `${pid} (${stat.comm}) is a kernel thread: it has no user memory to save`);
    return { report, vmas: null, files: [] };
  }
  if (isZombie(stat)) {
    add("process", "zombie", `${pid} (${stat.comm}) has exited and waits for its parent ${stat.ppid} to reap it: nothing left to save`);
    return { report, vmas: null, files: [] };
  }
  report.problems.push(...selfProblems(pid));
  if (pid === process.pid) return { report, vmas: null, files: [] }; // nothing else matters, and cr's own tables change as it reads them
  const files = collectFiles(pid);
  const vmas = collectVmas(pid);
  const checked = { pid, stat, tids: readThreads(pid), files, vmas, members, ...choices };
  report.problems.push(...processProblems(checked));
  report.notes.push(...processNotes(checked));
  return { report, vmas, files };
}

/** cr cannot freeze the process running it, nor the one waiting for it. */
function selfProblems(pid: number): Problem[] {
  if (pid === process.pid) {
    return [{ resource: "process", kind: "self", reason: `${pid} is this cr process itself: it cannot checkpoint while it runs` }];
  }
  if (pid === process.ppid) {
    return [
      {
        resource: "process",
        kind: "self",
        reason: `${pid} is the parent of this cr process (it waits for cr): freezing it would stop cr's caller; run cr from elsewhere`,
      },
    ];
  }
  return [];
}


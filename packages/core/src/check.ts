/**
 * `cr check PID`: every resource the target holds that cr cannot save yet, each with a reason a
 * user can act on (docs/design.md decision 9). Read-only: the target is never stopped or touched, and it
 * keeps running whatever this finds.
 */
import { NativeError } from "@cr/native";
import { CrError } from "./errors.js";
import { ownerProblems } from "./objects/fd-owners.js";
import { collectFiles, cwdProblem, type FdEntry, type UnsupportedCategory } from "./objects/files.js";
import { lockProblems } from "./objects/locks.js";
import { pipeSizeProblems } from "./objects/pipes.js";
import { commOf, parseKeyValues, readProcText, requireKey, requireProcess } from "./process/procfs.js";
import { seccompProblems } from "./objects/seccomp.js";
import { sharedMemoryProblems } from "./objects/shmem.js";
import { shmemFileProblems } from "./objects/shmem-files.js";
import { isKernelThread, isZombie, readStat, readThreads } from "./objects/task.js";
import { threadCredentialProblems } from "./objects/threads.js";
import { timerProblems } from "./objects/timers.js";
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

export interface CheckReport {
  pid: number;
  comm: string;
  problems: Problem[];
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
}

/**
 * Lists what would stop a checkpoint of `pid` and of each of its descendants (their resources
 * are named "process N: fd 5"). A nonexistent pid fails with CrError ESRCH ("no process N"); a
 * process that exits during the check fails with ESRCH naming the /proc path.
 */
export async function checkProcess(pid: number, options: CheckOptions = {}): Promise<TreeReport> {
  return (await checkTree(pid, options)).report;
}

/**
 * checkProcess, and the mappings it read of each running member (none when it stopped before
 * them): a snapshot starts from these instead of walking every page table a second time.
 */
export async function checkTree(pid: number, options: CheckOptions = {}): Promise<{ report: TreeReport; vmas: Map<number, Vma[]> }> {
  const handedOver = options.handedOver ?? new Set<number>();
  const tree = processTree(pid);
  const members = new Set(tree.map((m) => m.pid));
  const processes = tree.map(({ pid, ppid, comm }) => ({ pid, ppid, comm }));
  const vmas = new Map<number, Vma[]>();
  const root = checkMember(pid, members, handedOver);
  if (root.vmas === null) return { report: { ...root.report, processes: processes.slice(0, 1) }, vmas }; // a kernel thread, a zombie, cr: nothing below matters
  vmas.set(pid, root.vmas);
  const report: TreeReport = { ...root.report, processes };
  const named = (member: number, p: Problem): Problem => (member === pid ? p : { ...p, resource: `process ${member}: ${p.resource}` });
  const held: HeldFiles[] = [{ pid, files: root.files }];
  for (const member of tree.slice(1).filter((m) => !isZombie(m.stat))) {
    const checked = checkIfRunning(member.pid, members, handedOver);
    if (!checked) continue; // exited since the tree was listed: not part of it any more
    report.problems.push(...checked.report.problems.map((p) => named(member.pid, p)));
    if (checked.vmas) vmas.set(member.pid, checked.vmas);
    held.push({ pid: member.pid, files: checked.files });
  }
  // A socket is saved with its peer: the tree's sockets are judged together.
  if (!options.socketsJudgedFrozen) for (const { pid: member, ...problem } of unixSocketProblems(held, handedOver)) report.problems.push(named(member, problem));
  return { report, vmas };
}

/** checkMember, or undefined for a process that exits before or while it is checked. */
function checkIfRunning(pid: number, members: ReadonlySet<number>, handedOver: ReadonlySet<number>): ReturnType<typeof checkMember> | undefined {
  try {
    return checkMember(pid, members, handedOver);
  } catch (error) {
    if ((error instanceof CrError || error instanceof NativeError) && error.code === "ESRCH") return undefined;
    throw error;
  }
}

/**
 * One process's problems, its mappings (null when it stopped before them) and its descriptors.
 * `members`: the tree it is saved with; `handedOver`: descriptors replaced at restart. Its UNIX
 * sockets are judged with the tree's (unixSocketProblems).
 */
export function checkMember(pid: number, members: ReadonlySet<number>, handedOver: ReadonlySet<number>): { report: CheckReport; vmas: Vma[] | null; files: FdEntry[] } {
  requireProcess(pid);
  const stat = readStat(pid);
  const report: CheckReport = { pid, comm: stat.comm, problems: [] };
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
  const tids = readThreads(pid);
  report.problems.push(...tracerProblems(pid), ...seccompProblems(pid, tids), ...threadCredentialProblems(pid, tids), ...timerProblems(pid, stat.numThreads));
  const cwd = cwdProblem(pid);
  if (cwd) add("cwd", "deleted-cwd", cwd);
  const files = collectFiles(pid);
  for (const entry of files) {
    const problem = handedOver.has(entry.fd) ? undefined : fdProblem(entry);
    if (problem) report.problems.push(problem);
    report.problems.push(...lockProblems(entry));
  }
  report.problems.push(...pipeSizeProblems(pid, files), ...ownerProblems(pid, files, stat.pgrp, tids));
  const vmas = collectVmas(pid);
  for (const vma of vmas) {
    const problem = vmaProblem(vma);
    if (problem) report.problems.push(problem);
  }
  report.problems.push(...sharedMemoryProblems(members, vmas), ...shmemFileProblems(pid, members, vmas, files));
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

/**
 * A process has one tracer at most and cr needs to be it. When cr itself is the tracer (the
 * snapshot engine checks a process it has seized) that is no problem.
 */
function tracerProblems(pid: number): Problem[] {
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

const FD_REASONS: Record<UnsupportedCategory, string> = {
  socket: "cr cannot save sockets other than UNIX ones (a network peer and the kernel's connection state cannot be restored); close it, or hand it over (cr snapshot --inherit-fd N, then cr restart --inherit-fd N:PATH)",
  eventfd: "cr cannot save eventfds yet (its counter and the processes sharing it are kernel state)",
  epoll: "cr cannot save epoll instances yet (the watched fds and ready list are kernel state)",
  signalfd: "cr cannot save signalfds yet",
  timerfd: "cr cannot save timerfds yet (armed timers are kernel state)",
  inotify: "cr cannot save inotify instances yet (watches and queued events are kernel state)",
  fanotify: "cr cannot save fanotify instances",
  io_uring: "cr cannot save io_uring instances (queued and in-flight requests live in the kernel)",
  userfaultfd: "the program uses its own userfaultfd, which cr cannot save",
  memfd: "cr cannot restore huge-page memory yet",
  pidfd: "cr cannot save pidfds (the pid it refers to may not exist at restart)",
  "anon-inode": "cr cannot save this kind of kernel object",
  device: "cr cannot save device state; only /dev/null, /dev/zero, /dev/random, /dev/urandom, /dev/full and terminals are reopened",
  "deleted-file": "the file was deleted, so a restart cannot reopen it; keep a link to it or close it",
  namespace: "cr cannot save namespace references",
  other: "cr does not know how to reopen it",
};

function fdProblem(entry: FdEntry): Problem | undefined {
  if (entry.kind !== "unsupported" || entry.internal) return undefined;
  const category = entry.category ?? "other";
  return { resource: `fd ${entry.fd}`, kind: category, reason: `${entry.what ?? entry.target}: ${FD_REASONS[category]}` };
}

function vmaProblem(vma: Vma): Problem | undefined {
  if (vma.internal) return undefined;
  const resource = `mapping ${vma.start.toString(16)}-${vma.end.toString(16)}`;
  const problem = (kind: string, reason: string): Problem => ({ resource, kind, reason });
  if (vma.kind === "sysv-shm") {
    const key = vma.path?.slice("/SYSV".length) ?? "?";
    return problem("sysv-shm", `SysV shared memory segment (key 0x${key}): cr cannot save SysV IPC objects; shmdt it first`);
  }
  if (vma.kind === "aio") {
    return problem("aio", "AIO context ring (io_setup): cr cannot save AIO contexts (their requests in flight live in the kernel); io_destroy it before the checkpoint");
  }
  if (vma.kind === "secretmem") {
    return problem("secretmem", "memfd_secret memory: its pages are removed from the kernel's own mappings, so no one but the program can read them to save them");
  }
  if (vma.kind === "anon-inode" && vma.name.includes("io_uring")) {
    return problem("io_uring", "io_uring ring mapping: cr cannot save io_uring instances");
  }
  if (vma.kind === "anon-inode") {
    return problem("device", `${vma.name} mapping: kernel object memory cr cannot recreate`);
  }
  if (vma.flags.shadowStack) {
    return problem("shadow-stack", "x86 shadow stack (CET): cr cannot recreate shadow stacks; run the program without them (GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)");
  }
  if (vma.flags.hugetlb) {
    return problem("hugetlb", `hugetlb mapping ${vma.name || "(anonymous)"}: cr cannot restore huge-page mappings yet`);
  }
  const isPseudo = ["vdso", "vvar", "vvar_vclock", "vsyscall"].includes(vma.kind);
  if (!isPseudo && (vma.flags.io || vma.flags.pfnmap)) {
    return problem("device", `device memory mapping ${vma.name || "(no name)"}: cr cannot save or remap device memory`);
  }
  // A shared writable file mapping is mapped again from its file: its pages are the file's.
  // Shared memory is saved (objects/shmem.ts, shmem-files.ts) unless another process maps it too.
  if (vma.shared && (vma.prot.write || vma.flags.mayWrite) && vma.kind !== "file" && vma.kind !== "shared-anonymous" && vma.kind !== "memfd") {
    return sharedProblem(vma, problem);
  }
  // A deleted file of a tmpfs is saved with its content (shmem-files.ts).
  if (vma.deleted && vma.kind === "file" && !vma.onTmpfs) {
    return problem("deleted-file", `mapping of deleted file ${vma.path}: a restart cannot map it again; keep a link to the file`);
  }
  return undefined;
}

function sharedProblem(vma: Vma, problem: (kind: string, reason: string) => Problem): Problem {
  const why = "a restored process cannot share it with the processes that map it now";
  const file = vma.path ?? vma.name;
  return problem("shared-memory", `shared writable mapping of ${file}${vma.deleted ? " (deleted)" : ""}: ${why}`);
}

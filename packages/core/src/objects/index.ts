/**
 * The table of a process's kernel objects, one entry per object or concern, in the order of
 * their records in a process's section: what `cr check` says of the object when cr cannot save
 * it (the module that saves it says so), the records its checkpoint half leaves in the section,
 * and how its restore half finds them there. check.ts judges a process, checkpoint.ts writes a
 * section and restart.ts reads one by walking this table. When each object is restored is
 * restart.ts's own sequence (docs/restart.md): there the objects depend on one another. What the
 * processes of a tree share is judged and collected for the tree as a whole (tree.ts,
 * unix-sockets.ts, shmem.ts, shmem-files.ts, ghost-files.ts) and lands in the sections through this table.
 */
import type {
  FdRecord,
  GhostFileRecord,
  InetSocketRecord,
  TcpConnectionRecord,
  FileLockRecord,
  MemoryAttrsRecord,
  ProcessAttrsRecord,
  ProcessRecord,
  RecordTypeName,
  RecordTypes,
  SeccompRecord,
  ShmemFileRecord,
  SignalsRecord,
  ThreadRecord,
  TimersRecord,
  TrackerRecord,
  UnixSocketRecord,
  VmaRecord,
} from "@cr/format";
import type { Note, Problem } from "../check.js";
import type { FdOwner } from "./fd-owners.js";
import { ownerProblems } from "./fd-owners.js";
import { epollProblems, type SavedEpoll } from "./epolls.js";
import type { SavedEventfd } from "./eventfds.js";
import type { SavedSignalfd } from "./signalfds.js";
import { inotifyProblems, type SavedInotify } from "./inotify.js";
import { pidfdProblems, type SavedPidfd } from "./pidfds.js";
import type { SavedTimerfd } from "./timerfds.js";
import type { SavedFiles } from "./file-contents.js";
import { fileProblems, type FdEntry } from "./files.js";
import { ghostFileProblems } from "./ghost-files.js";
import { inetSocketProblems } from "./inet-sockets.js";
import { lockProblems } from "./locks.js";
import { pipeSizeProblems, type PipeBytes, type PipeSizes } from "./pipes.js";
import type { RemovedFiles } from "./removed.js";
import { seccompProblems } from "./seccomp.js";
import type { TreeSharedFd } from "./shared-fds.js";
import { sharedMemoryProblems } from "./shmem.js";
import { sharedGuardProblems } from "./mapping-attrs.js";
import { shmemFileProblems } from "./shmem-files.js";
import { tracerProblems, type ProcStat } from "./task.js";
import { threadCredentialProblems } from "./threads.js";
import { timerProblems } from "./timers.js";
import { terminalNotes, type SavedTerminal } from "./terminals.js";
import type { SavedPtyMaster } from "./pty-pairs.js";
import { vmaProblem, type Vma } from "./vmas.js";

/** A running process as `cr check` reads it once, for every object to judge. */
export interface CheckedProcess {
  pid: number;
  stat: ProcStat;
  tids: number[];
  files: FdEntry[];
  vmas: Vma[];
  /** The tree it is saved with. */
  members: ReadonlySet<number>;
  /** Descriptors the user replaces at restart (--inherit-fd): not saved, so no problem. */
  handedOver: ReadonlySet<number>;
  /** --tcp-close, --tcp-established: TCP connections are saved closed, or as they are, so no problem. */
  tcpClose: boolean;
  tcpEstablished: boolean;
}

/** What one process's section holds: what a snapshot writes and a restart reads back. */
export interface ProcessSection {
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
  /** The open file descriptions it shares with earlier processes of the tree (TREE_SHARED_FDS). */
  treeShared: TreeSharedFd[];
  /** Each eventfd's counter and mode, once per open file description (EVENTFDS). */
  eventfds: SavedEventfd[];
  /** Each epoll instance's watches, once per open file description (EPOLLS). */
  epolls: SavedEpoll[];
  /** Each timerfd's clock, times and unread expirations, once per open file description (TIMERFDS). */
  timerfds: SavedTimerfd[];
  /** Each signalfd's mask, once per open file description (SIGNALFDS). */
  signalfds: SavedSignalfd[];
  /** The terminals it holds, with their settings (TERMINALS). */
  terminals: SavedTerminal[];
  /** Its pseudo-terminal masters, with their pairs' numbers (PTY_MASTERS). */
  ptyMasters: SavedPtyMaster[];
  /** Each inotify instance's watches, once per open file description (INOTIFY). */
  inotify: SavedInotify[];
  /** The process each pidfd refers to, once per open file description of the process (PIDFDS). */
  pidfds: SavedPidfd[];
  owners: FdOwner[];
  /** Absent from images written before MEMORY_ATTRS existed. */
  memoryAttrs: MemoryAttrsRecord | undefined;
  pipes: PipeBytes;
  pipeSizes: PipeSizes;
  removed: RemovedFiles;
  /** Files the tree was writing, saved whole (FILE_CONTENTS). */
  contents: SavedFiles;
  /** The UNIX sockets this section saves (each socket of the tree once, in some section). */
  sockets: UnixSocketRecord[];
  /** The TCP and UDP sockets this section saves (each socket of the tree once, in its first holder's). */
  inetSockets: InetSocketRecord[];
  /** The state of its established TCP connections, saved with --tcp-established (TCP_CONNECTIONS). */
  tcpConnections: TcpConnectionRecord[];
  /** The memfds and tmpfs files whose first holder it is. */
  shmemFiles: ShmemFileRecord[];
  /** The deleted files whose first holder it is (GHOST_FILES). */
  ghostFiles: GhostFileRecord[];
  /** The tracker's state for the next snapshot (the hashing tracker's page hashes). */
  tracker: TrackerRecord | undefined;
}

type SectionRecordName = Exclude<RecordTypeName, "PROCESS_TABLE" | "MEMBER">;

/** Hands one record to the section being written. */
export type PutRecord = <K extends SectionRecordName>(type: K, value: RecordTypes[K]) => void;

/** A section's records as a restart finds them; `need` fails with BAD_IMAGE naming the missing one. */
export interface SectionRecords {
  one<K extends SectionRecordName>(type: K): RecordTypes[K] | undefined;
  all<K extends SectionRecordName>(type: K): RecordTypes[K][];
  need<K extends SectionRecordName>(type: K): RecordTypes[K];
}

export interface ProcessObject {
  name: string;
  /** What `cr check` reports of it: why cr cannot save it, and what the user can do. */
  problems?(p: CheckedProcess): Problem[];
  /** What `cr check` says of it that is no problem: what a restart will do with it. */
  notes?(p: CheckedProcess): Note[];
  /** Its records in the section (written only when there is something, where an older cr must still read the image). */
  save(s: ProcessSection, put: PutRecord): void;
  /** Its part of the section, read back. */
  read(r: SectionRecords): Partial<ProcessSection>;
}

export const PROCESS_OBJECTS: readonly ProcessObject[] = [
  {
    name: "process",
    problems: (p) => tracerProblems(p.pid),
    save: (s, put) => put("PROCESS", s.process),
    read: (r) => ({ process: r.need("PROCESS") }),
  },
  {
    name: "mappings",
    problems: (p) => [...p.vmas.flatMap((v) => vmaProblem(v) ?? []), ...sharedMemoryProblems(p.members, p.vmas), ...sharedGuardProblems(p.pid, p.vmas)],
    save: (s, put) => put("VMAS", { vmas: s.vmas }),
    read: (r) => ({ vmas: r.need("VMAS").vmas }),
  },
  {
    name: "threads",
    problems: (p) => threadCredentialProblems(p.pid, p.tids),
    save: (s, put) => s.threads.forEach((t) => put("THREAD", t)),
    read: (r) => ({ threads: r.all("THREAD") }),
  },
  {
    name: "signals",
    save: (s, put) => put("SIGNALS", s.signals),
    read: (r) => ({ signals: r.need("SIGNALS") }),
  },
  {
    name: "files",
    problems: (p) => fileProblems(p.pid, p.files, p.handedOver),
    save: (s, put) => put("FILES", { fds: s.files }),
    read: (r) => ({ files: r.need("FILES").fds }),
  },
  {
    name: "process attributes",
    save: (s, put) => s.attrs && put("PROCESS_ATTRS", s.attrs),
    read: (r) => ({ attrs: r.one("PROCESS_ATTRS") }),
  },
  {
    name: "timers",
    problems: (p) => timerProblems(p.pid, p.stat.numThreads),
    save: (s, put) => s.timers && put("TIMERS", s.timers),
    read: (r) => ({ timers: r.one("TIMERS") }),
  },
  {
    name: "seccomp",
    problems: (p) => seccompProblems(p.pid, p.tids),
    save: (s, put) => s.seccomp && put("SECCOMP", s.seccomp),
    read: (r) => ({ seccomp: r.one("SECCOMP") }),
  },
  {
    name: "locks",
    problems: (p) => p.files.flatMap(lockProblems),
    save: (s, put) => s.locks.length > 0 && put("LOCKS", { locks: s.locks }),
    read: (r) => ({ locks: r.all("LOCKS").flatMap((l) => l.locks) }),
  },
  {
    name: "shared open files",
    save: (s, put) => {
      if (s.shared.size > 0) put("SHARED_FDS", { fds: [...s.shared].map(([fd, sameAs]) => ({ fd, sameAs })) });
      if (s.treeShared.length > 0) put("TREE_SHARED_FDS", { fds: s.treeShared });
    },
    read: (r) => ({
      shared: new Map(r.all("SHARED_FDS").flatMap((s) => s.fds.map((f): [number, number] => [f.fd, f.sameAs]))),
      treeShared: r.all("TREE_SHARED_FDS").flatMap((s) => s.fds),
    }),
  },
  {
    name: "eventfds",
    save: (s, put) => s.eventfds.length > 0 && put("EVENTFDS", { eventfds: s.eventfds }),
    read: (r) => ({ eventfds: r.all("EVENTFDS").flatMap((e) => e.eventfds) }),
  },
  {
    name: "epoll instances",
    problems: (p) => epollProblems(p.pid, p.files),
    save: (s, put) => s.epolls.length > 0 && put("EPOLLS", { epolls: s.epolls }),
    read: (r) => ({ epolls: r.all("EPOLLS").flatMap((e) => e.epolls) }),
  },
  {
    name: "timerfds",
    save: (s, put) => s.timerfds.length > 0 && put("TIMERFDS", { timerfds: s.timerfds }),
    read: (r) => ({ timerfds: r.all("TIMERFDS").flatMap((t) => t.timerfds) }),
  },
  {
    name: "signalfds",
    save: (s, put) => s.signalfds.length > 0 && put("SIGNALFDS", { signalfds: s.signalfds }),
    read: (r) => ({ signalfds: r.all("SIGNALFDS").flatMap((t) => t.signalfds) }),
  },
  {
    name: "terminals",
    notes: (p) => terminalNotes(p.pid, p.files, p.stat, p.members),
    save: (s, put) => s.terminals.length > 0 && put("TERMINALS", { terminals: s.terminals }),
    read: (r) => ({ terminals: r.all("TERMINALS").flatMap((t) => t.terminals) }),
  },
  {
    name: "pseudo-terminal masters",
    save: (s, put) => s.ptyMasters.length > 0 && put("PTY_MASTERS", { masters: s.ptyMasters }),
    read: (r) => ({ ptyMasters: r.all("PTY_MASTERS").flatMap((m) => m.masters) }),
  },
  {
    name: "inotify instances",
    problems: (p) => inotifyProblems(p.pid, p.files),
    save: (s, put) => s.inotify.length > 0 && put("INOTIFY", { instances: s.inotify }),
    read: (r) => ({ inotify: r.all("INOTIFY").flatMap((i) => i.instances) }),
  },
  {
    name: "pidfds",
    problems: (p) => pidfdProblems(p.pid, p.files, p.members, p.handedOver),
    save: (s, put) => s.pidfds.length > 0 && put("PIDFDS", { pidfds: s.pidfds }),
    read: (r) => ({ pidfds: r.all("PIDFDS").flatMap((p) => p.pidfds) }),
  },
  {
    name: "fd owners",
    problems: (p) => ownerProblems(p.pid, p.files, p.stat.pgrp, p.tids),
    save: (s, put) => s.owners.length > 0 && put("FD_OWNERS", { owners: s.owners }),
    read: (r) => ({ owners: r.all("FD_OWNERS").flatMap((o) => o.owners) }),
  },
  {
    name: "mapping attributes",
    save: (s, put) => s.memoryAttrs && put("MEMORY_ATTRS", s.memoryAttrs),
    read: (r) => ({ memoryAttrs: r.one("MEMORY_ATTRS") }),
  },
  {
    name: "pipes",
    problems: (p) => pipeSizeProblems(p.pid, p.files),
    save: (s, put) => {
      if (s.pipes.length > 0) put("PIPE_DATA", { pipes: s.pipes });
      if (s.pipeSizes.length > 0) put("PIPE_SIZES", { pipes: s.pipeSizes });
    },
    read: (r) => ({ pipes: r.one("PIPE_DATA")?.pipes ?? [], pipeSizes: r.all("PIPE_SIZES").flatMap((p) => p.pipes) }),
  },
  {
    name: "removed files",
    save: (s, put) => s.removed.length > 0 && put("REMOVED_FILES", { files: s.removed }),
    read: (r) => ({ removed: r.one("REMOVED_FILES")?.files ?? [] }),
  },
  {
    name: "file contents",
    save: (s, put) => s.contents.length > 0 && put("FILE_CONTENTS", { files: s.contents }),
    read: (r) => ({ contents: r.all("FILE_CONTENTS").flatMap((c) => c.files) }),
  },
  {
    // Judged for the whole tree: a socket is saved with its peer (check.ts, unix-sockets.ts).
    name: "unix sockets",
    save: (s, put) => s.sockets.length > 0 && put("UNIX_SOCKETS", { sockets: s.sockets }),
    read: (r) => ({ sockets: r.all("UNIX_SOCKETS").flatMap((u) => u.sockets) }),
  },
  {
    name: "network sockets",
    problems: (p) => inetSocketProblems(p.pid, p.files, p.handedOver, p),
    save: (s, put) => s.inetSockets.length > 0 && put("INET_SOCKETS", { sockets: s.inetSockets }),
    read: (r) => ({ inetSockets: r.all("INET_SOCKETS").flatMap((u) => u.sockets) }),
  },
  {
    name: "TCP connections",
    save: (s, put) => s.tcpConnections.length > 0 && put("TCP_CONNECTIONS", { connections: s.tcpConnections }),
    read: (r) => ({ tcpConnections: r.all("TCP_CONNECTIONS").flatMap((c) => c.connections) }),
  },
  {
    name: "shared memory files",
    problems: (p) => shmemFileProblems(p.pid, p.members, p.vmas, p.files),
    save: (s, put) => s.shmemFiles.forEach((f) => put("SHMEM_FILE", f)),
    read: (r) => ({ shmemFiles: r.all("SHMEM_FILE") }),
  },
  {
    name: "deleted files",
    problems: (p) => ghostFileProblems(p.pid, p.vmas, p.files.filter((f) => !p.handedOver.has(f.fd))),
    save: (s, put) => s.ghostFiles.forEach((f) => put("GHOST_FILES", f)),
    read: (r) => ({ ghostFiles: r.all("GHOST_FILES") }),
  },
  {
    name: "write tracking",
    save: (s, put) => s.tracker && put("TRACKER", s.tracker),
    read: (r) => ({ tracker: r.one("TRACKER") }),
  },
];

/** Every note the objects have on `p`, in table order. */
export function processNotes(p: CheckedProcess): Note[] {
  return PROCESS_OBJECTS.flatMap((o) => o.notes?.(p) ?? []);
}

/** Every problem the objects find in `p`, in table order. */
export function processProblems(p: CheckedProcess): Problem[] {
  return PROCESS_OBJECTS.flatMap((o) => o.problems?.(p) ?? []);
}

/** Hands every record of a section to `put`, in table order. */
export function saveSection(s: ProcessSection, put: PutRecord): void {
  for (const o of PROCESS_OBJECTS) o.save(s, put);
}

/** A section read back, every object's part of it. */
export function readSection(r: SectionRecords): ProcessSection {
  return Object.assign({}, ...PROCESS_OBJECTS.map((o) => o.read(r))) as ProcessSection;
}

/**
 * Every record layout of the image format, declared once. The chunk type registry at the
 * bottom (CHUNK_TYPES) is the single table of type numbers; docs/format.md lists the same
 * table and a test checks that the two agree.
 */
import { array, bytes, doc, i32, i64, type Infer, type Schema, string, struct, u16, u32, u64, u64n, u8 } from "./schema.js";

// ---------------------------------------------------------------- image-level chunks

export const ImageKind = { FULL: 0, INCREMENTAL: 1 } as const;

export const HeaderSchema = struct("header", {
  crid: doc(u64, "CRID of this image (unique in its store, never 0)"),
  parentCrid: doc(u64, "CRID of the parent image; 0 for a full image"),
  parentIdentity: doc(u64, "identity of the parent image (its footer identity); 0 for a full image"),
  kind: doc(u8, "0 full, 1 incremental (incremental iff parentCrid != 0)"),
  pageSize: doc(u32, "page size in bytes: power of two, 4096..1 MiB; unit of PAGES, PAGE_MAP and alignment"),
  arch: doc(string, 'architecture, as `uname -m` ("x86_64")'),
  kernelRelease: doc(string, "kernel release, as `uname -r`"),
  createdMs: doc(u64, "creation time, milliseconds since the Unix epoch"),
  toolVersion: doc(string, "version of the program that wrote the image"),
});
export type Header = Infer<typeof HeaderSchema>;

export const ReferenceSchema = struct("reference", {
  crid: doc(u64, "CRID of an earlier image"),
  identity: doc(u64, "that image's identity (its footer identity)"),
});
export type Reference = Infer<typeof ReferenceSchema>;
export const ReferencesSchema = struct("references", {
  images: doc(array(ReferenceSchema), "every image the page map's REF entries point into"),
});

export const PageCodec = { RAW: 0, LZ4: 1 } as const;
export type PageCodec = (typeof PageCodec)[keyof typeof PageCodec];

export const PagesMetaSchema = struct("pages", {
  vaddr: doc(u64, "virtual address of the first page of the block (the PAGE_MAP maps every page)"),
  pages: doc(u32, "number of pages in the block (>= 1)"),
  codec: doc(u8, "0 raw (body = the pages), 1 LZ4 block format"),
  rawLength: doc(u64n, "decoded length = pages x pageSize"),
});
export type PagesMeta = Infer<typeof PagesMetaSchema>;

export const PageMapMetaSchema = struct("page map", {
  entryCount: doc(u32, "number of entries in the body"),
  totalPages: doc(u64n, "sum of the entries' page counts"),
});
export type PageMapMeta = Infer<typeof PageMapMetaSchema>;

export const IndexEntrySchema = struct("index entry", {
  type: doc(u16, "chunk type"),
  flags: doc(u16, "chunk flags"),
  reserved: doc(u32, "0"),
  offset: doc(u64n, "offset of the chunk (its head) in the file"),
  vaddr: doc(u64, "PAGES: first vaddr; else 0"),
  pages: doc(u32, "PAGES: page count; else 0"),
  codec: doc(u8, "PAGES: codec; else 0"),
  reserved2: doc(u8, "0"),
  reserved3: doc(u16, "0"),
});
export type IndexEntry = Infer<typeof IndexEntrySchema>;
export const IndexSchema = struct("index", {
  chunks: doc(array(IndexEntrySchema), "every chunk before INDEX, in file order"),
});

// ---------------------------------------------------------------- the process tree

export const MemberState = { RUNNING: 0, ZOMBIE: 1 } as const;

export const TableEntrySchema = struct("table entry", {
  pid: doc(i32, "pid"),
  ppid: doc(i32, "parent pid (the root's parent is outside the tree)"),
  pgid: doc(i32, "process group id"),
  sid: doc(i32, "session id"),
  startTime: doc(u64, "start time in clock ticks after boot (/proc/PID/stat field 22): with pid, the incarnation"),
  state: doc(u8, "0 running (it has a MEMBER section), 1 zombie (exited, not yet reaped: no section)"),
  exitStatus: doc(i32, "zombie: its wait status (exit code << 8, or the terminating signal); else 0"),
});
export type TableEntry = Infer<typeof TableEntrySchema>;
export const ProcessTableSchema = struct("process table", {
  processes: doc(array(TableEntrySchema), "the root first, then every descendant, parents before their children"),
});
export type ProcessTableRecord = Infer<typeof ProcessTableSchema>;

export const MemberSchema = struct("member", {
  pid: doc(i32, "the process (in PROCESS_TABLE, running) whose section this chunk starts"),
});
export type MemberRecord = Infer<typeof MemberSchema>;

// ---------------------------------------------------------------- process state

export const RlimitSchema = struct("rlimit", {
  resource: doc(u32, "RLIMIT_* number"),
  cur: doc(u64, "soft limit (RLIM_INFINITY = 2^64-1)"),
  max: doc(u64, "hard limit"),
});

export const ProcessSchema = struct("process", {
  pid: doc(i32, "pid"),
  ppid: doc(i32, "parent pid"),
  pgid: doc(i32, "process group id"),
  sid: doc(i32, "session id"),
  comm: doc(string, "command name (/proc/PID/comm)"),
  exePath: doc(string, "executable path (/proc/PID/exe)"),
  cwd: doc(string, "current directory"),
  umask: doc(u32, "file mode creation mask"),
  personality: doc(u32, "personality(2) flags"),
  startCode: doc(u64, "mm: start_code"),
  endCode: doc(u64, "mm: end_code"),
  startData: doc(u64, "mm: start_data"),
  endData: doc(u64, "mm: end_data"),
  startBrk: doc(u64, "mm: start_brk"),
  brk: doc(u64, "mm: brk"),
  startStack: doc(u64, "mm: start_stack"),
  argStart: doc(u64, "mm: arg_start"),
  argEnd: doc(u64, "mm: arg_end"),
  envStart: doc(u64, "mm: env_start"),
  envEnd: doc(u64, "mm: env_end"),
  auxv: doc(bytes, "auxiliary vector as in /proc/PID/auxv"),
  cmdline: doc(bytes, "/proc/PID/cmdline bytes"),
  uid: doc(u32, "real uid"),
  gid: doc(u32, "real gid"),
  euid: doc(u32, "effective uid"),
  egid: doc(u32, "effective gid"),
  suid: doc(u32, "saved uid"),
  sgid: doc(u32, "saved gid"),
  fsuid: doc(u32, "filesystem uid"),
  fsgid: doc(u32, "filesystem gid"),
  groups: doc(array(u32), "supplementary groups"),
  capInheritable: doc(u64, "CapInh"),
  capPermitted: doc(u64, "CapPrm"),
  capEffective: doc(u64, "CapEff"),
  capBounding: doc(u64, "CapBnd"),
  capAmbient: doc(u64, "CapAmb"),
  rlimits: doc(array(RlimitSchema), "resource limits"),
});
export type ProcessRecord = Infer<typeof ProcessSchema>;

export const VmaFlags = {
  SHARED: 1 << 0,
  GROWSDOWN: 1 << 1,
  DONTDUMP: 1 << 2,
  DONTFORK: 1 << 3,
  LOCKED: 1 << 4,
  ANONYMOUS: 1 << 5,
  WIPEONFORK: 1 << 6,
  HUGEPAGE: 1 << 7,
  NOHUGEPAGE: 1 << 8,
  SEQUENTIAL: 1 << 9,
  RANDOM: 1 << 10,
  MERGEABLE: 1 << 11,
  LOCKONFAULT: 1 << 12,
  MAYWRITE: 1 << 13,
  SEALED: 1 << 14,
  DROPPABLE: 1 << 15,
  NORESERVE: 1 << 16,
  ACCOUNT: 1 << 17,
} as const;

export const VmaSchema = struct("vma", {
  start: doc(u64, "start address"),
  end: doc(u64, "end address (exclusive)"),
  prot: doc(u32, "PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4"),
  flags: doc(u32, "bit 0 shared (else private), 1 growsdown, 2 dontdump, 3 dontfork, 4 locked, 5 anonymous, 6 wipeonfork, 7 hugepage, 8 nohugepage, 9 sequential, 10 random, 11 mergeable, 12 lockonfault, 13 maywrite (a shared mapping of a file opened for writing), 14 sealed, 15 droppable (MAP_DROPPABLE), 16 noreserve (MAP_NORESERVE), 17 accounted (smaps ac: private memory that is or was writable)"),
  pgoff: doc(u64, "offset in the file, bytes"),
  path: doc(string, "mapped file path; empty for anonymous mappings"),
  device: doc(u64, "st_dev of the file"),
  inode: doc(u64, "st_ino of the file"),
  fileSize: doc(u64, "st_size of the file at checkpoint"),
  mtimeNs: doc(u64, "st_mtime of the file, ns since the epoch"),
  name: doc(string, 'special name: "[heap]", "[stack]", "[vdso]", "[vvar]", ...; else empty'),
});
export type VmaRecord = Infer<typeof VmaSchema>;
export const VmasSchema = struct("vmas", {
  vmas: doc(array(VmaSchema), "every mapping, ascending by start"),
});
export type VmasRecord = Infer<typeof VmasSchema>;

export const GuardRangeSchema = struct("guard range", {
  start: doc(u64, "first byte of a run of guard pages"),
  end: doc(u64, "end of the run (exclusive)"),
});
export const MemoryAttrsSchema = struct("memory attrs", {
  thpDisable: doc(u32, "PR_GET_THP_DISABLE: 0, or 1 (THP disabled), with bit 1 when only MADV_HUGEPAGE regions may still use it"),
  memoryMerge: doc(u32, "PR_GET_MEMORY_MERGE: 1 when KSM may merge every mapping (PR_SET_MEMORY_MERGE)"),
  mdwe: doc(u32, "PR_GET_MDWE: memory-deny-write-execute flags (bit 0 refuse exec gain, bit 1 no inherit)"),
  lockFuture: doc(u32, "mlockall flags in force for future mappings: MCL_FUTURE 2, with MCL_ONFAULT 4; else 0"),
  guards: doc(array(GuardRangeSchema), "guard regions (MADV_GUARD_INSTALL), ascending"),
});
export type MemoryAttrsRecord = Infer<typeof MemoryAttrsSchema>;

export const ThreadSchema = struct("thread", {
  tid: doc(i32, "thread id"),
  regs: doc(bytes, "general registers (struct user_regs_struct)"),
  xstate: doc(bytes, "FPU/extended state (XSAVE area)"),
  sigmask: doc(u64, "blocked signals"),
  altstackSp: doc(u64, "sigaltstack ss_sp"),
  altstackFlags: doc(u32, "sigaltstack ss_flags"),
  altstackSize: doc(u64, "sigaltstack ss_size"),
  rseqAddr: doc(u64, "rseq area address (0: none)"),
  rseqLen: doc(u32, "rseq area length"),
  rseqSig: doc(u32, "rseq signature"),
  robustListHead: doc(u64, "robust futex list head"),
  robustListLen: doc(u64, "robust futex list length"),
  clearTidAddress: doc(u64, "set_tid_address value"),
  pendingSignals: doc(array(bytes), "thread-directed pending siginfos (siginfo_t each)"),
});
export type ThreadRecord = Infer<typeof ThreadSchema>;

export const SigactionSchema = struct("sigaction", {
  handler: doc(u64, "sa_handler (0 SIG_DFL, 1 SIG_IGN)"),
  flags: doc(u64, "sa_flags"),
  restorer: doc(u64, "sa_restorer"),
  mask: doc(u64, "sa_mask"),
});
export type Sigaction = Infer<typeof SigactionSchema>;
export const SignalsSchema = struct("signals", {
  actions: doc(array(SigactionSchema), "64 entries: signal 1 at index 0"),
  sharedPending: doc(array(bytes), "process-wide pending siginfos"),
});
export type SignalsRecord = Infer<typeof SignalsSchema>;

export const FileKind = { REGULAR: 0, DIRECTORY: 1, DEVICE: 2, PIPE: 3, FIFO: 4, SOCKET: 5, SHMEM: 6, EVENTFD: 7, EPOLL: 8, INET_SOCKET: 9, TIMERFD: 10, SIGNALFD: 11, GHOST: 12, INOTIFY: 13, PIDFD: 14, PTY_MASTER: 15, UNSUPPORTED: 255 } as const;
export const PipeEnd = { NONE: 0, READ: 1, WRITE: 2 } as const;

export const FdSchema = struct("fd", {
  fd: doc(i32, "descriptor number"),
  fdFlags: doc(u32, "FD_CLOEXEC 1"),
  kind: doc(u8, "0 regular, 1 directory, 2 device (/dev/null-like), 3 pipe, 4 fifo, 5 UNIX socket (UNIX_SOCKETS, by inode), 6 a memfd or tmpfs file (the SHMEM_FILE of its device and inode), 7 an eventfd (EVENTFDS), 8 an epoll instance (EPOLLS), 9 a TCP or UDP socket (INET_SOCKETS, by inode), 10 a timerfd (TIMERFDS), 11 a signalfd (SIGNALFDS), 12 a deleted regular file (the GHOST_FILES of its device and inode), 13 an inotify instance (INOTIFY), 14 a pidfd (PIDFDS), 15 a pseudo-terminal master (PTY_MASTERS), 255 unsupported"),
  path: doc(string, "path (readlink of /proc/PID/fd/N)"),
  openFlags: doc(u32, "O_* flags (from fdinfo)"),
  offset: doc(u64, "file position"),
  device: doc(u64, "st_dev"),
  inode: doc(u64, "st_ino"),
  size: doc(u64, "st_size"),
  mtimeNs: doc(u64, "st_mtime, ns since the epoch"),
  pipeId: doc(u64, "pipe/fifo: inode of the pipe (same id = same pipe); else 0"),
  pipeEnd: doc(u8, "0 none, 1 read end, 2 write end"),
});
export type FdRecord = Infer<typeof FdSchema>;
export const FilesSchema = struct("files", {
  fds: doc(array(FdSchema), "every open descriptor, ascending by fd"),
});
export type FilesRecord = Infer<typeof FilesSchema>;

export const LockKind = { POSIX: 0, OFD: 1, FLOCK: 2, LEASE: 3 } as const;
export const LockType = { READ: 0, WRITE: 1 } as const;

export const FileLockSchema = struct("file lock", {
  fd: doc(i32, "the descriptor it is restored through (POSIX: the one it was taken through; else the lowest fd of its open file description)"),
  kind: doc(u8, "0 POSIX record lock, 1 OFD lock, 2 flock, 3 lease"),
  type: doc(u8, "0 read (shared), 1 write (exclusive)"),
  start: doc(u64, "first byte locked (0 for flock and leases)"),
  end: doc(u64, "last byte locked, inclusive; 2^63-1 (OFFSET_MAX) = to the end of the file, however long"),
});
export type FileLockRecord = Infer<typeof FileLockSchema>;
export const LocksSchema = struct("locks", {
  locks: doc(array(FileLockSchema), "every lock the process holds, POSIX ones range by range"),
});
export type LocksRecord = Infer<typeof LocksSchema>;

export const SharedFdSchema = struct("shared fd", {
  fd: doc(i32, "a descriptor"),
  sameAs: doc(i32, "the lowest descriptor of the same open file description (dup, fork): they share offset, flags and locks"),
});
export const SharedFdsSchema = struct("shared fds", {
  fds: doc(array(SharedFdSchema), "every descriptor that shares its open file description with a lower one, ascending"),
});
export type SharedFdsRecord = Infer<typeof SharedFdsSchema>;
export const TreeSharedFdSchema = struct("tree shared fd", {
  fd: doc(i32, "a descriptor of this section's process, the lowest of its open file description in it"),
  pid: doc(i32, "a process earlier in PROCESS_TABLE that holds the same open file description (inherited by fork)"),
  sameAs: doc(i32, "that process's lowest descriptor of it"),
});
export const TreeSharedFdsSchema = struct("tree shared fds", {
  fds: doc(array(TreeSharedFdSchema), "every open file description, other than a pipe's or a socket's, that this process shares with an earlier one, ascending by fd"),
});
export type TreeSharedFdsRecord = Infer<typeof TreeSharedFdsSchema>;
export const EventfdSchema = struct("eventfd", {
  fd: doc(i32, "the lowest descriptor of the eventfd's open file description"),
  count: doc(u64, "its counter (fdinfo eventfd-count)"),
  semaphore: doc(u8, "1: EFD_SEMAPHORE, a read takes 1 from the counter; 0: a read takes it all"),
});
export const EventfdsSchema = struct("eventfds", {
  eventfds: doc(array(EventfdSchema), "every eventfd of FILES, once per open file description, ascending by fd"),
});
export type EventfdsRecord = Infer<typeof EventfdsSchema>;
export const EpollWatchSchema = struct("epoll watch", {
  tfd: doc(i32, "the descriptor of this process the file is watched through (fdinfo tfd)"),
  events: doc(u32, "the events watched for, with EPOLLET, EPOLLONESHOT, EPOLLWAKEUP, EPOLLEXCLUSIVE (a one-shot watch that fired has only those)"),
  data: doc(u64, "what epoll_wait returns with them"),
});
export const EpollSchema = struct("epoll", {
  fd: doc(i32, "the lowest descriptor of the epoll instance's open file description"),
  watches: doc(array(EpollWatchSchema), "its watches, in fdinfo order"),
});
export const EpollsSchema = struct("epolls", {
  epolls: doc(array(EpollSchema), "every epoll instance of FILES this process saves, once per open file description, ascending by fd (one shared with an earlier process is in that one's section)"),
});
export type EpollsRecord = Infer<typeof EpollsSchema>;
export const TimerfdSchema = struct("timerfd", {
  fd: doc(i32, "the lowest descriptor of the timerfd's open file description"),
  clockid: doc(i32, "its clock (fdinfo clockid): 0 CLOCK_REALTIME, 1 CLOCK_MONOTONIC, 7 CLOCK_BOOTTIME, 8 CLOCK_REALTIME_ALARM, 9 CLOCK_BOOTTIME_ALARM"),
  settimeFlags: doc(u32, "how it was armed (fdinfo settime flags): TFD_TIMER_ABSTIME 1, TFD_TIMER_CANCEL_ON_SET 2"),
  ticks: doc(u64, "expirations not read yet (fdinfo ticks)"),
  valueNs: doc(u64, "it_value: time left to the next expiration, nanoseconds (0: disarmed, or with ticks, a periodic one that expired as it was read)"),
  intervalNs: doc(u64, "it_interval, nanoseconds (0: one-shot)"),
});
export const TimerfdsSchema = struct("timerfds", {
  timerfds: doc(array(TimerfdSchema), "every timerfd of FILES, once per open file description, ascending by fd"),
});
export type TimerfdsRecord = Infer<typeof TimerfdsSchema>;
export const SignalfdSchema = struct("signalfd", {
  fd: doc(i32, "the lowest descriptor of the signalfd's open file description"),
  mask: doc(u64, "the signals it reads (fdinfo sigmask): bit N-1 for signal N"),
});
export const SignalfdsSchema = struct("signalfds", {
  signalfds: doc(array(SignalfdSchema), "every signalfd of FILES, once per open file description, ascending by fd"),
});
export const TerminalSchema = struct("terminal", {
  path: doc(string, "the terminal's path as the process's descriptors named it (/dev/pts/3)"),
  rdev: doc(u64, "its device number (st_rdev)"),
  controlling: doc(u8, "1: the process's controlling terminal"),
  foregroundPgrp: doc(i32, "controlling: its foreground process group (tpgid); else -1"),
  termios: doc(bytes, "struct termios2 as TCGETS2 gave it"),
  winsize: doc(bytes, "struct winsize as TIOCGWINSZ gave it"),
});
export const TerminalsSchema = struct("terminals", {
  terminals: doc(array(TerminalSchema), "every terminal the process holds a descriptor on (/dev/tty, the alias, aside), once"),
});
export type TerminalsRecord = Infer<typeof TerminalsSchema>;
export const PtyMasterSchema = struct("pty master", {
  fd: doc(i32, "the lowest descriptor of the master's open file description in this process"),
  index: doc(u32, "its pair's number: the slave was /dev/pts/INDEX (fdinfo tty-index)"),
});
export const PtyMastersSchema = struct("pty masters", {
  masters: doc(array(PtyMasterSchema), "every pseudo-terminal master of FILES, once per open file description, ascending by fd"),
});
export type PtyMastersRecord = Infer<typeof PtyMastersSchema>;
export type SignalfdsRecord = Infer<typeof SignalfdsSchema>;
export const InotifyWatchSchema = struct("inotify watch", {
  wd: doc(i32, "its watch descriptor, the number read(2) reports its events under (fdinfo wd)"),
  mask: doc(u32, "the events watched for, with IN_ONESHOT and IN_EXCL_UNLINK (fdinfo mask)"),
  path: doc(string, "the watched file, found from its file handle (fdinfo f_handle) by open_by_handle_at"),
});
export const InotifySchema = struct("inotify", {
  fd: doc(i32, "the lowest descriptor of the inotify instance's open file description"),
  watches: doc(array(InotifyWatchSchema), "its watches, ascending by wd"),
});
export const InotifiesSchema = struct("inotify instances", {
  instances: doc(array(InotifySchema), "every inotify instance of FILES this process saves, once per open file description, ascending by fd (one shared with an earlier process is in that one's section)"),
});
export type InotifyRecord = Infer<typeof InotifiesSchema>;
export const PidfdSchema = struct("pidfd", {
  fd: doc(i32, "the lowest descriptor of the pidfd's open file description in this process"),
  pid: doc(i32, "the process it refers to (fdinfo Pid), a process of the saved tree"),
});
export const PidfdsSchema = struct("pidfds", {
  pidfds: doc(array(PidfdSchema), "every pidfd of FILES, once per open file description of this process, ascending by fd"),
});
export type PidfdsRecord = Infer<typeof PidfdsSchema>;
export const PipeBytesSchema = struct("pipe-bytes", {
  pipeId: doc(u64, "the pipe's id, as FILES pipeId"),
  bytes: doc(bytes, "what was buffered in it, oldest first"),
});
export const PipeDataSchema = struct("pipe-data", {
  pipes: doc(array(PipeBytesSchema), "every pipe and FIFO of FILES that held bytes, once each"),
});
export type PipeDataRecord = Infer<typeof PipeDataSchema>;
export const PipeSizeSchema = struct("pipe-size", {
  pipeId: doc(u64, "the pipe's id, as FILES pipeId"),
  size: doc(u32, "its capacity in bytes (F_GETPIPE_SZ): a power-of-two number of pages"),
});
export const PipeSizesSchema = struct("pipe-sizes", {
  pipes: doc(array(PipeSizeSchema), "every pipe and FIFO of FILES whose capacity is not a new pipe's (16 pages), once each"),
});
export type PipeSizesRecord = Infer<typeof PipeSizesSchema>;

export const FdOwnerSchema = struct("fd owner", {
  fd: doc(i32, "the lowest descriptor of the open file description"),
  type: doc(u8, "F_GETOWN_EX type: 0 F_OWNER_TID (a thread), 1 F_OWNER_PID (the process), 2 F_OWNER_PGRP (its process group)"),
  pid: doc(i32, "the thread, process or process group SIGIO and SIGURG go to; 0: none"),
  signal: doc(i32, "F_GETSIG: the signal sent instead of SIGIO; 0: SIGIO"),
  uid: doc(u32, "F_GETOWNER_UIDS: real uid of whoever set the owner (decides whom its signals may reach)"),
  euid: doc(u32, "F_GETOWNER_UIDS: its effective uid"),
});
export const FdOwnersSchema = struct("fd owners", {
  owners: doc(array(FdOwnerSchema), "every open file description with an owner or a signal set (F_SETOWN, F_SETSIG), ascending by fd"),
});
export type FdOwnersRecord = Infer<typeof FdOwnersSchema>;

export const RemovedFileSchema = struct("removed-file", {
  device: doc(u64, "st_dev, as FILES device"),
  inode: doc(u64, "st_ino, as FILES inode: the descriptors on this object"),
  path: doc(string, "where it was, without ` (deleted)`"),
  mode: doc(u32, "st_mode: S_IFDIR or S_IFIFO, and the permission bits"),
  uid: doc(u32, "owner"),
  gid: doc(u32, "group"),
  cwd: doc(u8, "1: it is the working directory (PROCESS cwd names it, with ` (deleted)`)"),
});
export const RemovedFilesSchema = struct("removed-files", {
  files: doc(array(RemovedFileSchema), "each removed directory or FIFO the process holds, once"),
});
export type RemovedFilesRecord = Infer<typeof RemovedFilesSchema>;

export const SavedFileSchema = struct("saved-file", {
  device: doc(u64, "st_dev, as FILES device"),
  inode: doc(u64, "st_ino, as FILES inode: the descriptors on this file"),
  path: doc(string, "its path at the checkpoint"),
  mode: doc(u32, "st_mode permission bits, for a file restart creates again"),
  mtimeNs: doc(u64, "st_mtime at the checkpoint, ns since the epoch"),
  bytes: doc(bytes, "the whole content at the checkpoint (st_size bytes)"),
});
export const FileContentsSchema = struct("file-contents", {
  files: doc(array(SavedFileSchema), "regular files the tree had open and had written since its root started, once each"),
});
export type FileContentsRecord = Infer<typeof FileContentsSchema>;
/** UNIX_SOCKETS state: how a restart makes the socket again. */
export const SocketState = { UNCONNECTED: 0, CONNECTED: 1, LISTENING: 2, PEER_CLOSED: 3, CONNECTING: 4, OUTSIDE: 5 } as const;
/** UNIX_SOCKETS options bits. */
export const SocketOption = { PASSCRED: 1, PASSSEC: 2, PASSPIDFD: 4, NO_PASSRIGHTS: 8 } as const;

export const UnixSocketSchema = struct("unix socket", {
  inode: doc(u64, "st_ino of the socket: FILES inode of every descriptor on it, in any process"),
  type: doc(u8, "1 stream, 2 datagram, 5 seqpacket (SOCK_*)"),
  state: doc(u8, "0 unconnected, 1 connected to `peer`, 2 listening, 3 connected to a peer since closed, 4 connecting: waits to be accepted by listening socket `peer`, 5 connected outside the tree: restart needs --inherit-fd (the other fields are 0)"),
  peer: doc(u64, "connected: the peer's inode (saved in this image); connecting: the listening socket's; else 0"),
  name: doc(bytes, "bound address (sun_path): a path, or an abstract name after a 0 byte; empty: unnamed"),
  nameFile: doc(u8, "a path name: 1 its socket file is there, 0 it was removed (restart binds and removes it again); else 0"),
  backlog: doc(u32, "listening: listen()'s backlog; else 0"),
  pending: doc(array(u64), "listening: the connecting sockets (state 4) waiting to be accepted, in order"),
  shutdown: doc(u8, "1 receive side shut, 2 send side shut (or-ed), as sock_diag gives it"),
  options: doc(u8, "1 SO_PASSCRED, 2 SO_PASSSEC, 4 SO_PASSPIDFD, 8 SO_PASSRIGHTS off (or-ed)"),
  sndbuf: doc(u32, "SO_SNDBUF, as getsockopt gives it"),
  rcvbuf: doc(u32, "SO_RCVBUF, as getsockopt gives it"),
  rcvlowat: doc(u32, "SO_RCVLOWAT"),
  peekOffset: doc(i32, "SO_PEEK_OFF; -1: off"),
  rcvtimeoUs: doc(u64, "SO_RCVTIMEO, microseconds (0: none)"),
  sndtimeoUs: doc(u64, "SO_SNDTIMEO, microseconds (0: none)"),
  queue: doc(array(bytes), "what waits to be read, oldest first: each datagram or seqpacket message; a stream's bytes as one"),
});
export type UnixSocketRecord = Infer<typeof UnixSocketSchema>;
export const UnixSocketsSchema = struct("unix sockets", {
  sockets: doc(array(UnixSocketSchema), "the UNIX sockets of FILES, each once in the image: in the section of the first process holding it"),
});
export type UnixSocketsRecord = Infer<typeof UnixSocketsSchema>;
/** INET_SOCKETS state: what a restart makes of the socket. */
export const InetSocketState = { UNCONNECTED: 0, LISTENING: 1, CONNECTED: 2, CLOSED: 3, ESTABLISHED: 4 } as const;
export const InetSocketOptionSchema = struct("inet socket option", {
  level: doc(i32, "SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP or IPPROTO_IPV6"),
  option: doc(i32, "the option's number at that level (SO_REUSEADDR, TCP_NODELAY, IPV6_V6ONLY ...)"),
  value: doc(i64, "as getsockopt gives it; SO_LINGER: its seconds, -1 off; SO_RCVTIMEO, SO_SNDTIMEO: microseconds"),
});
export const InetSocketSchema = struct("inet socket", {
  inode: doc(u64, "st_ino of the socket: FILES inode of every descriptor on it, in any process"),
  family: doc(u16, "2 AF_INET, 10 AF_INET6"),
  type: doc(u8, "1 stream, 2 datagram (SOCK_*)"),
  protocol: doc(u8, "6 TCP, 17 UDP"),
  state: doc(u8, "0 unconnected (bound to `local` unless its port is 0), 1 listening, 2 a UDP socket connected to `peer`, 3 a TCP connection the checkpoint was told to close (--tcp-close): a new unconnected socket, 4 an established TCP connection made again with TCP_REPAIR (--tcp-established; TCP_CONNECTIONS has its state)"),
  local: doc(bytes, "the sockaddr getsockname gave"),
  peer: doc(bytes, "the sockaddr getpeername gave; empty: none"),
  backlog: doc(u32, "listening: listen()'s backlog; else 0"),
  options: doc(array(InetSocketOptionSchema), "every option cr reads for such a socket, as it was"),
});
export type InetSocketRecord = Infer<typeof InetSocketSchema>;
export const InetSocketsSchema = struct("inet sockets", {
  sockets: doc(array(InetSocketSchema), "the TCP and UDP sockets of FILES, each once in the image: in the section of the first process holding it"),
});
export type InetSocketsRecord = Infer<typeof InetSocketsSchema>;
export const TcpConnectionSchema = struct("tcp connection", {
  inode: doc(u64, "the INET_SOCKETS socket (state 4) it is the state of"),
  inqSeq: doc(u32, "where the receive queue ends (rcv_nxt: TCP_QUEUE_SEQ of TCP_RECV_QUEUE)"),
  outqSeq: doc(u32, "where the send queue ends (write_seq: TCP_QUEUE_SEQ of TCP_SEND_QUEUE)"),
  inq: doc(bytes, "received, not read yet"),
  outq: doc(bytes, "written, not acknowledged by the peer"),
  unsent: doc(u32, "how many of outq's last bytes were never sent (SIOCOUTQNSD)"),
  mss: doc(u32, "TCP_MAXSEG"),
  options: doc(u8, "TCP_INFO tcpi_options: 1 timestamps, 2 SACK, 4 window scaling (or-ed)"),
  sndWscale: doc(u8, "window scale the peer sends with"),
  rcvWscale: doc(u8, "window scale this end receives with"),
  timestamp: doc(u32, "TCP_TIMESTAMP: the connection's timestamp clock"),
  sndWl1: doc(u32, "TCP_REPAIR_WINDOW snd_wl1"),
  sndWnd: doc(u32, "snd_wnd"),
  maxWindow: doc(u32, "max_window"),
  rcvWnd: doc(u32, "rcv_wnd"),
  rcvWup: doc(u32, "rcv_wup"),
});
export const TcpConnectionsSchema = struct("tcp connections", {
  connections: doc(array(TcpConnectionSchema), "the state of each established connection of this section's INET_SOCKETS"),
});
export type TcpConnectionsRecord = Infer<typeof TcpConnectionsSchema>;
export type TcpConnectionRecord = Infer<typeof TcpConnectionSchema>;
export const ShmemFileKind = { MEMFD: 0, TMPFS: 1, TMPFS_DELETED: 2 } as const;

export const ShmemExtentSchema = struct("shmem extent", {
  offset: doc(u64, "offset in the file, a multiple of the page size"),
  bytes: doc(bytes, "the file's bytes from there: whole pages, or up to the file's size"),
});
export const ShmemFileSchema = struct("shmem file", {
  device: doc(u64, "st_dev at the checkpoint: with inode, what VMAS device/inode and FILES (kind 6) device/inode name"),
  inode: doc(u64, "st_ino at the checkpoint"),
  kind: doc(u8, "0 memfd, 1 file on a tmpfs, 2 file on a tmpfs, deleted"),
  name: doc(string, "memfd: its name (memfd_create's, without `memfd:`); tmpfs: its path, without ` (deleted)`"),
  size: doc(u64, "st_size"),
  mode: doc(u32, "st_mode permission bits (S_IALLUGO)"),
  uid: doc(u32, "owner"),
  gid: doc(u32, "group"),
  seals: doc(u32, "memfd: F_GET_SEALS (F_SEAL_SEAL 1, SHRINK 2, GROW 4, WRITE 8, FUTURE_WRITE 16, EXEC 32); tmpfs: 0"),
  extents: doc(array(ShmemExtentSchema), "the data of the file no page map holds, ascending; the rest of it is a hole, or in a page map"),
});
export type ShmemFileRecord = Infer<typeof ShmemFileSchema>;

export const GhostFileSchema = struct("ghost file", {
  device: doc(u64, "st_dev at the checkpoint: with inode, what VMAS device/inode and FILES (kind 12) device/inode name"),
  inode: doc(u64, "st_ino at the checkpoint"),
  path: doc(string, "the path it had, without ` (deleted)`; an O_TMPFILE file's is its directory and `#INODE`"),
  tmpfile: doc(u8, "1: made with O_TMPFILE, it never had a name (made again so); 0: a file unlinked"),
  size: doc(u64, "st_size"),
  mode: doc(u32, "st_mode permission bits (S_IALLUGO)"),
  uid: doc(u32, "owner"),
  gid: doc(u32, "group"),
  extents: doc(array(ShmemExtentSchema), "its data, ascending (SEEK_DATA); the rest of it is a hole"),
});
export type GhostFileRecord = Infer<typeof GhostFileSchema>;

export const TrackerSchema = struct("tracker", {
  name: doc(string, 'dirty tracker name ("hashing", "write-protect", "soft-dirty")'),
  state: doc(bytes, "tracker-private state (hashing: the hash of every page; write-protect: the reaped children's page faults, the round, the hot runs and their pages' hashes: packages/core/src/trackers/hot-pages.ts)"),
});
export type TrackerRecord = Infer<typeof TrackerSchema>;

export const ProcessAttrsSchema = struct("process attrs", {
  noNewPrivs: doc(array(i32), "the threads with no_new_privs set (each thread has its own)"),
  dumpable: doc(u8, "PR_GET_DUMPABLE: 0, 1 or 2"),
  childSubreaper: doc(u8, "PR_GET_CHILD_SUBREAPER: 1 set"),
  oomScoreAdj: doc(i32, "/proc/PID/oom_score_adj, -1000..1000"),
  loginuid: doc(u32, "/proc/PID/loginuid, the leader's (4294967295: unset)"),
  membarrier: doc(u32, "MEMBARRIER_CMD_GET_REGISTRATIONS: the REGISTER commands in effect, or-ed"),
});
export type ProcessAttrsRecord = Infer<typeof ProcessAttrsSchema>;

export const ItimerSchema = struct("itimer", {
  which: doc(u32, "0 ITIMER_REAL, 1 ITIMER_VIRTUAL, 2 ITIMER_PROF"),
  intervalUs: doc(u64, "it_interval, microseconds"),
  valueUs: doc(u64, "it_value: time left, microseconds (0: disarmed)"),
});
export type ItimerRecord = Infer<typeof ItimerSchema>;

export const PosixTimerSchema = struct("posix timer", {
  id: doc(i32, "timer ID (timer_create's)"),
  clock: doc(i32, "clock ID"),
  notify: doc(i32, "sigev_notify: 0 SIGEV_SIGNAL, 1 SIGEV_NONE, 4 SIGEV_THREAD_ID (or-ed with 0)"),
  signal: doc(i32, "sigev_signo"),
  value: doc(u64, "sigev_value (sival_ptr)"),
  tid: doc(i32, "SIGEV_THREAD_ID: the thread signalled; else 0"),
  intervalNs: doc(u64, "it_interval, nanoseconds"),
  valueNs: doc(u64, "it_value: time left, nanoseconds (0: disarmed)"),
});
export type PosixTimerRecord = Infer<typeof PosixTimerSchema>;

export const TimersSchema = struct("timers", {
  itimers: doc(array(ItimerSchema), "the three interval timers (setitimer)"),
  posix: doc(array(PosixTimerSchema), "every POSIX timer (timer_create), ascending by ID"),
});
export type TimersRecord = Infer<typeof TimersSchema>;

export const SeccompFilterSchema = struct("seccomp filter", {
  flags: doc(u32, "SECCOMP_FILTER_FLAG_LOG 2, as PTRACE_SECCOMP_GET_METADATA gives it"),
  program: doc(bytes, "the BPF program: struct sock_filter (8 bytes) each"),
});
export const SeccompSchema = struct("seccomp", {
  filters: doc(array(SeccompFilterSchema), "every thread's filters (the same in all), oldest first; empty: none"),
});
export type SeccompRecord = Infer<typeof SeccompSchema>;

// ---------------------------------------------------------------- the registry

/** Chunk flag bits. */
export const ChunkFlags = {
  /** A reader that does not know the type skips the chunk. */
  OPTIONAL: 1 << 0,
  /** Zero padding after the head hash up to the next multiple of the page size. */
  ALIGNED: 1 << 1,
} as const;

export const ChunkType = {
  HEADER: 0x0001,
  REFERENCES: 0x0002,
  PROCESS_TABLE: 0x0003,
  MEMBER: 0x0004,
  PROCESS: 0x0010,
  VMAS: 0x0011,
  THREAD: 0x0012,
  SIGNALS: 0x0013,
  FILES: 0x0014,
  PIPE_DATA: 0x0015,
  REMOVED_FILES: 0x0016,
  PIPE_SIZES: 0x0017,
  MEMORY_ATTRS: 0x0018,
  FD_OWNERS: 0x0019,
  UNIX_SOCKETS: 0x001a,
  PROCESS_ATTRS: 0x001b,
  TIMERS: 0x001c,
  SECCOMP: 0x001d,
  LOCKS: 0x001e,
  SHARED_FDS: 0x001f,
  TRACKER: 0x0020,
  FILE_CONTENTS: 0x0030,
  SHMEM_FILE: 0x0021,
  TREE_SHARED_FDS: 0x0022,
  EVENTFDS: 0x0023,
  EPOLLS: 0x0024,
  INET_SOCKETS: 0x0025,
  TIMERFDS: 0x0026,
  SIGNALFDS: 0x0027,
  TERMINALS: 0x002b,
  TCP_CONNECTIONS: 0x002c,
  PTY_MASTERS: 0x002d,
  INOTIFY: 0x0029,
  PIDFDS: 0x002a,
  GHOST_FILES: 0x0028,
  PAGES: 0x0100,
  PAGE_MAP: 0x0101,
  INDEX: 0x01ff,
} as const;
export type ChunkTypeName = keyof typeof ChunkType;

export interface ChunkTypeInfo {
  type: number;
  name: ChunkTypeName;
  schema: Schema<any>;
  /** Written with the OPTIONAL flag. */
  optional: boolean;
  /** How many such chunks an image has. */
  count: "one" | "any" | "per-process";
  /** What the body holds. */
  body: string;
  description: string;
}

/** The registry: one row per chunk type. docs/format.md carries the same table. */
export const CHUNK_TYPES: readonly ChunkTypeInfo[] = [
  { type: ChunkType.HEADER, name: "HEADER", schema: HeaderSchema, optional: false, count: "one", body: "empty", description: "first chunk: identity of the image and of its parent" },
  { type: ChunkType.REFERENCES, name: "REFERENCES", schema: ReferencesSchema, optional: false, count: "one", body: "empty", description: "second chunk: the earlier images REF entries may point into" },
  { type: ChunkType.PROCESS_TABLE, name: "PROCESS_TABLE", schema: ProcessTableSchema, optional: false, count: "one", body: "empty", description: "third chunk of a tree image: every process of the tree (absent in an image of one process)" },
  { type: ChunkType.MEMBER, name: "MEMBER", schema: MemberSchema, optional: false, count: "any", body: "empty", description: "starts the section of one running process of the table: its records, PAGES and PAGE_MAP" },
  { type: ChunkType.PROCESS, name: "PROCESS", schema: ProcessSchema, optional: false, count: "any", body: "empty", description: "process ids, paths, mm fields, credentials, rlimits" },
  { type: ChunkType.VMAS, name: "VMAS", schema: VmasSchema, optional: false, count: "any", body: "empty", description: "the memory mappings" },
  { type: ChunkType.THREAD, name: "THREAD", schema: ThreadSchema, optional: false, count: "any", body: "empty", description: "one per thread: registers, signal mask, rseq, robust list" },
  { type: ChunkType.SIGNALS, name: "SIGNALS", schema: SignalsSchema, optional: false, count: "any", body: "empty", description: "process-wide signal dispositions and pending signals" },
  { type: ChunkType.FILES, name: "FILES", schema: FilesSchema, optional: false, count: "any", body: "empty", description: "the file descriptor table" },
  { type: ChunkType.PIPE_DATA, name: "PIPE_DATA", schema: PipeDataSchema, optional: false, count: "any", body: "empty", description: "the bytes buffered in the pipes and FIFOs the process has open" },
  { type: ChunkType.REMOVED_FILES, name: "REMOVED_FILES", schema: RemovedFilesSchema, optional: false, count: "any", body: "empty", description: "removed directories and FIFOs the process holds, recreated at restart" },
  { type: ChunkType.PIPE_SIZES, name: "PIPE_SIZES", schema: PipeSizesSchema, optional: false, count: "any", body: "empty", description: "the capacity of pipes and FIFOs not of the default size (only when there are any)" },
  { type: ChunkType.MEMORY_ATTRS, name: "MEMORY_ATTRS", schema: MemoryAttrsSchema, optional: false, count: "any", body: "empty", description: "address-space attributes: THP_DISABLE, MEMORY_MERGE, MDWE, mlockall(MCL_FUTURE), guard regions" },
  { type: ChunkType.FD_OWNERS, name: "FD_OWNERS", schema: FdOwnersSchema, optional: false, count: "any", body: "empty", description: "owner and signal of signal-driven I/O, per open file description (only when any is set)" },
  { type: ChunkType.UNIX_SOCKETS, name: "UNIX_SOCKETS", schema: UnixSocketsSchema, optional: false, count: "any", body: "empty", description: "UNIX sockets: state, address, options and the bytes waiting to be read (only when there are any)" },
  { type: ChunkType.PROCESS_ATTRS, name: "PROCESS_ATTRS", schema: ProcessAttrsSchema, optional: false, count: "any", body: "empty", description: "no_new_privs, dumpable, subreaper, oom_score_adj, loginuid, membarrier" },
  { type: ChunkType.TIMERS, name: "TIMERS", schema: TimersSchema, optional: false, count: "any", body: "empty", description: "interval timers and POSIX timers" },
  { type: ChunkType.SECCOMP, name: "SECCOMP", schema: SeccompSchema, optional: false, count: "any", body: "empty", description: "seccomp filters" },
  { type: ChunkType.LOCKS, name: "LOCKS", schema: LocksSchema, optional: false, count: "any", body: "empty", description: "file locks: POSIX, OFD, flock, leases (only when the process holds any)" },
  { type: ChunkType.SHARED_FDS, name: "SHARED_FDS", schema: SharedFdsSchema, optional: false, count: "any", body: "empty", description: "descriptors sharing one open file description (only when there are any)" },
  { type: ChunkType.TREE_SHARED_FDS, name: "TREE_SHARED_FDS", schema: TreeSharedFdsSchema, optional: false, count: "any", body: "empty", description: "open file descriptions shared with earlier processes of the tree (only when there are any)" },
  { type: ChunkType.EVENTFDS, name: "EVENTFDS", schema: EventfdsSchema, optional: false, count: "any", body: "empty", description: "the counter and mode of each eventfd (only when there are any)" },
  { type: ChunkType.EPOLLS, name: "EPOLLS", schema: EpollsSchema, optional: false, count: "any", body: "empty", description: "the watches of each epoll instance (only when there are any)" },
  { type: ChunkType.INET_SOCKETS, name: "INET_SOCKETS", schema: InetSocketsSchema, optional: false, count: "any", body: "empty", description: "the TCP and UDP sockets the section saves (only when there are any)" },
  { type: ChunkType.TIMERFDS, name: "TIMERFDS", schema: TimerfdsSchema, optional: false, count: "any", body: "empty", description: "the clock, times and unread expirations of each timerfd (only when there are any)" },
  { type: ChunkType.SIGNALFDS, name: "SIGNALFDS", schema: SignalfdsSchema, optional: false, count: "any", body: "empty", description: "the signal mask of each signalfd (only when there are any)" },
  { type: ChunkType.TERMINALS, name: "TERMINALS", schema: TerminalsSchema, optional: false, count: "any", body: "empty", description: "the terminals the process holds, with their settings (only when there are any)" },
  { type: ChunkType.PTY_MASTERS, name: "PTY_MASTERS", schema: PtyMastersSchema, optional: false, count: "any", body: "empty", description: "the pseudo-terminal pairs whose masters the process holds (only when there are any)" },
  { type: ChunkType.TCP_CONNECTIONS, name: "TCP_CONNECTIONS", schema: TcpConnectionsSchema, optional: false, count: "any", body: "empty", description: "sequence numbers, queues and window of each established TCP connection saved with --tcp-established" },
  { type: ChunkType.INOTIFY, name: "INOTIFY", schema: InotifiesSchema, optional: false, count: "any", body: "empty", description: "the watches of each inotify instance (only when there are any)" },
  { type: ChunkType.PIDFDS, name: "PIDFDS", schema: PidfdsSchema, optional: false, count: "any", body: "empty", description: "the process each pidfd refers to (only when there are any)" },
  { type: ChunkType.TRACKER, name: "TRACKER", schema: TrackerSchema, optional: true, count: "any", body: "empty", description: "dirty tracker state (a reader may ignore it)" },
  { type: ChunkType.SHMEM_FILE, name: "SHMEM_FILE", schema: ShmemFileSchema, optional: false, count: "any", body: "empty", description: "a memfd or tmpfs file of the tree, once, in its first holder's section: identity, seals, the data no page map holds" },
  { type: ChunkType.GHOST_FILES, name: "GHOST_FILES", schema: GhostFileSchema, optional: false, count: "any", body: "empty", description: "one deleted file the tree holds or maps, once, in its first holder's section: identity, owner, mode, size and data" },
  { type: ChunkType.FILE_CONTENTS, name: "FILE_CONTENTS", schema: FileContentsSchema, optional: false, count: "any", body: "empty", description: "the content of small files the process tree wrote and holds open (only when there are any)" },
  { type: ChunkType.PAGES, name: "PAGES", schema: PagesMetaSchema, optional: false, count: "any", body: "the pages, raw (ALIGNED) or LZ4 block", description: "a block of page data" },
  { type: ChunkType.PAGE_MAP, name: "PAGE_MAP", schema: PageMapMetaSchema, optional: false, count: "per-process", body: "entryCount page map entries, compact encoding", description: "complete page map, after every PAGES chunk" },
  { type: ChunkType.INDEX, name: "INDEX", schema: IndexSchema, optional: false, count: "one", body: "empty", description: "last chunk: offsets of every chunk, for random access" },
];

const byType = new Map<number, ChunkTypeInfo>(CHUNK_TYPES.map((t) => [t.type, t]));
export function chunkTypeInfo(type: number): ChunkTypeInfo | undefined {
  return byType.get(type);
}

/** The value type of each record chunk type (those written with writeRecord). */
export interface RecordTypes {
  PROCESS_TABLE: ProcessTableRecord;
  MEMBER: MemberRecord;
  PROCESS: ProcessRecord;
  VMAS: VmasRecord;
  THREAD: ThreadRecord;
  SIGNALS: SignalsRecord;
  FILES: FilesRecord;
  PROCESS_ATTRS: ProcessAttrsRecord;
  TIMERS: TimersRecord;
  SECCOMP: SeccompRecord;
  LOCKS: LocksRecord;
  SHARED_FDS: SharedFdsRecord;
  TREE_SHARED_FDS: TreeSharedFdsRecord;
  EVENTFDS: EventfdsRecord;
  EPOLLS: EpollsRecord;
  INET_SOCKETS: InetSocketsRecord;
  TIMERFDS: TimerfdsRecord;
  SIGNALFDS: SignalfdsRecord;
  TERMINALS: TerminalsRecord;
  PTY_MASTERS: PtyMastersRecord;
  TCP_CONNECTIONS: TcpConnectionsRecord;
  INOTIFY: InotifyRecord;
  PIDFDS: PidfdsRecord;
  MEMORY_ATTRS: MemoryAttrsRecord;
  PIPE_DATA: PipeDataRecord;
  PIPE_SIZES: PipeSizesRecord;
  FD_OWNERS: FdOwnersRecord;
  REMOVED_FILES: RemovedFilesRecord;
  UNIX_SOCKETS: UnixSocketsRecord;
  TRACKER: TrackerRecord;
  FILE_CONTENTS: FileContentsRecord;
  SHMEM_FILE: ShmemFileRecord;
  GHOST_FILES: GhostFileRecord;
}
export type RecordTypeName = keyof RecordTypes;
/** The process-state records (writeRecord): every record type but the tree's (PROCESS_TABLE, MEMBER). */
export const RECORD_TYPE_NAMES: readonly Exclude<RecordTypeName, "PROCESS_TABLE" | "MEMBER">[] = ["PROCESS", "VMAS", "THREAD", "SIGNALS", "FILES", "PIPE_DATA", "REMOVED_FILES", "PIPE_SIZES", "MEMORY_ATTRS", "FD_OWNERS", "UNIX_SOCKETS", "PROCESS_ATTRS", "TIMERS", "SECCOMP", "LOCKS", "SHARED_FDS", "TREE_SHARED_FDS", "EVENTFDS", "EPOLLS", "INET_SOCKETS", "TIMERFDS", "SIGNALFDS", "TERMINALS", "PTY_MASTERS", "TCP_CONNECTIONS", "INOTIFY", "PIDFDS", "GHOST_FILES", "TRACKER", "FILE_CONTENTS", "SHMEM_FILE"];

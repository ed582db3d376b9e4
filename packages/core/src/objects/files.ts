/**
 * The file descriptor table of a process: for every fd its number, what it points at, its
 * position and open flags (/proc/PID/fdinfo/N), the identity of the open file (stat through the
 * /proc/PID/fd/N magic link) and a `kind` saying how a restart can reopen it, or "unsupported"
 * with a `what` naming the object. Read-only: nothing in the target is touched.
 */
import { closeSync, existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { BigIntStats } from "node:fs";
import { DEVICES, FS_MAGIC, NativeError, OPEN, SOCKET, socketDomain, splitDev, STAT, takeFd } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";
import { parseLockLines, type FileLock } from "./locks.js";
import {
  fileSystemOf,
  listProcDir,
  parseKeyValues,
  procError,
  processExists,
  procPath,
  readProcLink,
  readProcText,
  requireProcess,
  statProc,
} from "../process/procfs.js";
import { readLimits, type Rlimits } from "./task.js";
import type { Problem } from "../check.js";

export type FdKind =
  | "regular"
  | "directory"
  | "devnull"
  | "devzero"
  | "devurandom"
  | "pipe"
  | "fifo"
  | "tty"
  | "unix-socket"
  | "shmem"
  | "eventfd"
  | "epoll"
  | "inet-socket"
  | "pty-master"
  | "timerfd"
  | "signalfd"
  | "inotify"
  | "pidfd"
  | "ghost"
  | "unsupported";

/** Which end of a pipe or FIFO an fd is, from its access mode. */
export type PipeEnd = "read" | "write" | "both";

export interface FdEntry {
  fd: number;
  /** readlink of /proc/PID/fd/N: a path, `pipe:[ino]`, `socket:[ino]`, `anon_inode:[eventfd]` ... */
  target: string;
  /** File position (fdinfo `pos`). */
  pos: bigint;
  /** fdinfo `flags`, as the kernel keeps them (O_* bits, O_CLOEXEC included). */
  flags: number;
  /** `flags` without O_CLOEXEC: what to pass to open(2) at restart (plus O_CLOEXEC if `cloexec`). */
  openFlags: number;
  access: "read" | "write" | "readwrite";
  append: boolean;
  nonblock: boolean;
  cloexec: boolean;
  dev: bigint;
  ino: bigint;
  /** st_mode: file type and permission bits. */
  mode: number;
  size: bigint;
  mtimeNs: bigint;
  rdev: bigint;
  nlink: bigint;
  kind: FdKind;
  /** For regular, directory, fifo, tty and device fds: the path, without ` (deleted)`. */
  path?: string;
  /** A directory or FIFO removed since it was opened (`path` is where it was). */
  removed?: boolean;
  /** For "shmem" (a memfd, or a regular file on a tmpfs): unlinked (a memfd always is). */
  deleted?: boolean;
  /** For pipes and FIFOs: which end this fd is. Both ends of one pipe share `ino`. */
  end?: PipeEnd;
  /** For "unix-socket" and "unsupported": what the fd is, for a person ("eventfd", "TCP socket 127.0.0.1:80 (listening)"). */
  what?: string;
  /** Subtype for "unsupported" fds, used by `checkProcess` (e.g. "socket", "io_uring", "device"). */
  category?: UnsupportedCategory;
  /** An fd cr itself keeps in the target (its userfaultfd tracker): never saved, never a problem. */
  internal: boolean;
  /** The locks held through its open file description (fdinfo `lock:` lines; locks.ts). */
  locks: FileLock[];
  /** A UNIX socket: descriptors sent over it (SCM_RIGHTS) not received yet (fdinfo `scm_fds`). */
  scmFds?: number;
}

export type UnsupportedCategory =
  | "socket"
  | "fanotify"
  | "io_uring"
  | "userfaultfd"
  | "memfd"
  | "anon-inode"
  | "device"
  | "deleted-file"
  | "namespace"
  | "other";

const { O_ACCMODE, O_WRONLY, O_RDWR, O_APPEND, O_NONBLOCK, O_CLOEXEC } = OPEN;
const { S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO } = STAT;
const DELETED = " (deleted)";

/**
 * How many fds at the top of the soft RLIMIT_NOFILE range belong to cr. The native tracker
 * installs its userfaultfd in the target at the highest free fd below the soft limit, so a
 * userfaultfd at fd >= soft limit - CR_FD_WINDOW is cr's own: it is never saved and never a
 * problem. (A program that itself puts a userfaultfd that high would be mistaken for cr's;
 * the native engineer can make this exact by recording the fd number it used.)
 */
export const CR_FD_WINDOW = 16n;

/** True for cr's own dirty-tracking userfaultfd (see CR_FD_WINDOW). */
export function isCrTrackingFd(entry: Pick<FdEntry, "fd" | "target">, limits: Pick<Rlimits, "nofile">): boolean {
  return entry.target === "anon_inode:[userfaultfd]" && BigInt(entry.fd) >= limits.nofile.cur - CR_FD_WINDOW;
}

/**
 * Every open fd of `pid`, ascending. An fd closed while cr lists the table (the process runs,
 * e.g. during `cr check`) is left out: it is no longer held. `limits`: the process's, where the
 * caller has read them already (they tell cr's own tracking fd).
 */
export function collectFiles(pid: number, rlimits?: Rlimits): FdEntry[] {
  requireProcess(pid); // before any other read: a process that is gone is named so
  const limits = rlimits ?? readLimits(pid);
  const sockets = new SocketTable(pid);
  const out: FdEntry[] = [];
  const fds = listProcDir(pid, "fd")
    .map(Number)
    .sort((a, b) => a - b);
  for (const fd of fds) {
    try {
      out.push(readFd(pid, fd, limits, sockets));
    } catch (error) {
      if (error instanceof CrError && error.code === "ENOENT") continue; // closed under us
      throw error;
    }
  }
  return out;
}

/**
 * `read` run on a descriptor of cr's own on the open file description of fd `fd` of `pid`
 * (pidfd_getfd: the same description, not a new open, so nothing of it changes), for what only
 * fcntl tells (its owner, a pipe's capacity). Undefined when the process closed the fd meanwhile.
 */
export function throughCopy<T>(pid: number, fd: number, read: (own: number) => T): T | undefined {
  try {
    const own = takeFd(pid, fd);
    try {
      return read(own);
    } finally {
      closeSync(own);
    }
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    if (error.code === "EBADF" && error.syscall === "pidfd_getfd") return undefined;
    throw new CrError(`cannot read fd ${fd} of process ${pid}: ${error.message}`, { code: error.code, pid, cause: error });
  }
}

function readFd(pid: number, fd: number, limits: Rlimits, sockets: SocketTable): FdEntry {
  const target = readProcLink(pid, `fd/${fd}`);
  const fdinfo = readProcText(pid, `fdinfo/${fd}`);
  const info = parseKeyValues(fdinfo);
  const stats = statProc(pid, `fd/${fd}`);
  const flags = parseInt(info.get("flags") ?? "0", 8);
  const accmode = flags & O_ACCMODE;
  const entry: FdEntry = {
    fd,
    target,
    pos: BigInt(info.get("pos") ?? "0"),
    flags,
    openFlags: flags & ~O_CLOEXEC,
    access: accmode === O_RDWR ? "readwrite" : accmode === O_WRONLY ? "write" : "read",
    append: (flags & O_APPEND) !== 0,
    nonblock: (flags & O_NONBLOCK) !== 0,
    cloexec: (flags & O_CLOEXEC) !== 0,
    dev: stats.dev,
    ino: stats.ino,
    mode: Number(stats.mode),
    size: stats.size,
    mtimeNs: stats.mtimeNs,
    rdev: stats.rdev,
    nlink: stats.nlink,
    kind: "unsupported",
    internal: isCrTrackingFd({ fd, target }, limits),
    locks: parseLockLines(fdinfo),
  };
  classify(entry, stats, sockets, () => fileSystemOf(pid, `fd/${fd}`));
  if (entry.kind === "unix-socket") entry.scmFds = Number(info.get("scm_fds") ?? "0");
  return entry;
}

function unsupported(entry: FdEntry, category: UnsupportedCategory, what: string): void {
  entry.kind = "unsupported";
  entry.category = category;
  entry.what = what;
}

function classify(entry: FdEntry, stats: BigIntStats, sockets: SocketTable, fileSystem: () => number): void {
  const { target } = entry;
  const type = entry.mode & S_IFMT;
  const end: PipeEnd = entry.access === "readwrite" ? "both" : entry.access;
  if (target.startsWith("pipe:[")) {
    entry.kind = "pipe";
    entry.end = end;
    return;
  }
  if (target.startsWith("socket:[")) {
    const { kind, what } = sockets.classify(entry.ino, entry.fd);
    if (kind === "unsupported") unsupported(entry, "socket", what);
    else {
      entry.kind = kind; // unix-sockets.ts, inet-sockets.ts save it, or say why not
      entry.what = what;
    }
    return;
  }
  if (target.startsWith("anon_inode:")) {
    classifyAnon(entry, target.slice("anon_inode:".length).replace(/^\[(.*)\]$/, "$1"));
    return;
  }
  if (!target.startsWith("/")) {
    // mnt:[...], net:[...], pidfd in some kernels, other pseudo files.
    const ns = /^(\w+):\[\d+\]$/.exec(target);
    if (ns) unsupported(entry, "namespace", `${ns[1]} namespace file`);
    else unsupported(entry, "other", target);
    return;
  }
  const deleted = target.endsWith(DELETED) && !isSameFile(target, stats);
  const path = deleted ? target.slice(0, -DELETED.length) : target;
  entry.path = path;
  if (type === S_IFREG && classifyShmem(entry, deleted, fileSystem())) return;
  if (deleted && type === S_IFREG) {
    // Saved with its content and made again at restart (ghost-files.ts, which says when it cannot be).
    entry.kind = "ghost";
    return;
  }
  if (deleted && type === S_IFCHR && isPtySlave(splitDev(entry.rdev).major)) {
    unsupported(entry, "device", `pseudo-terminal ${path} whose master was closed (the terminal is gone)`);
    return;
  }
  // A removed directory or FIFO is recreated at restart (removed.ts); its contents are nothing a
  // restart could lose (a removed directory is empty, a FIFO's bytes are saved as a pipe's).
  entry.removed = deleted && (type === S_IFDIR || type === S_IFIFO);
  const why = entry.removed ? unrecreatable(path) : undefined;
  if (why) {
    unsupported(entry, "deleted-file", `removed ${type === S_IFDIR ? "directory" : "FIFO"} ${path}, which a restart cannot recreate: ${why}`);
    return;
  }
  if (deleted && !entry.removed) {
    unsupported(entry, "deleted-file", `deleted ${fileTypeName(type)} ${path}`);
    return;
  }
  switch (type) {
    case S_IFREG:
      entry.kind = "regular";
      return;
    case S_IFDIR:
      entry.kind = "directory";
      return;
    case S_IFIFO:
      entry.kind = "fifo";
      entry.end = end;
      return;
    case S_IFCHR:
      classifyCharDevice(entry, path);
      return;
    case S_IFBLK: {
      const { major, minor } = splitDev(entry.rdev);
      unsupported(entry, "device", `block device ${path} (${major}:${minor})`);
      return;
    }
    default:
      unsupported(entry, "other", `${path} (file type 0o${type.toString(8)})`);
  }
}

/**
 * A memfd or a regular file on a tmpfs, deleted or not, is a shmem file saved with its content
 * (shmem-files.ts), but a memfd of huge pages (MFD_HUGETLB, on hugetlbfs). Whether it was.
 */
function classifyShmem(entry: FdEntry, deleted: boolean, fileSystem: number): boolean {
  const path = entry.path!;
  if (fileSystem === FS_MAGIC.HUGETLBFS_MAGIC && path.startsWith("/memfd:")) {
    unsupported(entry, "memfd", `memfd ${path.slice("/memfd:".length)} of huge pages (MFD_HUGETLB)`);
    return true;
  }
  if (fileSystem !== FS_MAGIC.TMPFS_MAGIC) return false;
  entry.kind = "shmem";
  entry.deleted = deleted;
  return true;
}

function fileTypeName(type: number): string {
  const names: Record<number, string> = { [S_IFREG]: "file", [S_IFCHR]: "device node", [S_IFBLK]: "device node" };
  return names[type] ?? "file";
}

/** Why a removed directory or FIFO cannot be recreated at its path (removed.ts), or undefined. */
function unrecreatable(path: string): string | undefined {
  const parent = dirname(path);
  if (!existsSync(parent)) return `its parent directory ${parent} is gone too`;
  if (lexists(path)) return `another file has its path now`;
  return undefined;
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw new CrError(`cannot stat ${path}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
  }
}

/** Why the working directory of `pid`, removed, cannot be recreated at restart; undefined when it can (or was not removed). */
export function cwdProblem(pid: number): string | undefined {
  const cwd = removedCwd(pid);
  const why = cwd === undefined ? undefined : unrecreatable(cwd);
  return why && `working directory ${cwd} was removed and a restart cannot recreate it: ${why}; chdir elsewhere first`;
}

/**
 * The working directory of `pid` when it was removed (restart recreates it), else undefined.
 * A directory literally named "x (deleted)" is told apart by its inode.
 */
export function removedCwd(pid: number): string | undefined {
  const target = readProcLink(pid, "cwd");
  if (!target.endsWith(DELETED) || isSameFile(target, statProc(pid, "cwd"))) return undefined;
  return target.slice(0, -DELETED.length);
}

/** True if `path` names the very inode `stats` describes (a file literally named "x (deleted)"). */
function isSameFile(path: string, stats: BigIntStats): boolean {
  try {
    const other = statSync(path, { bigint: true });
    return other.dev === stats.dev && other.ino === stats.ino;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    const detail = error instanceof Error ? error.message : String(error);
    throw new CrError(`cannot stat ${path} to tell whether it was deleted: ${detail}`, { code: code ?? "EIO", path, cause: error });
  }
}

/** The anonymous-inode objects a restart makes again, each saved by its module (eventfds.ts, epolls.ts, timerfds.ts, signalfds.ts, inotify.ts, pidfds.ts). */
const MADE_AGAIN = new Map<string, FdKind>([
  ["eventfd", "eventfd"],
  ["timerfd", "timerfd"],
  ["signalfd", "signalfd"],
  ["eventpoll", "epoll"],
  ["inotify", "inotify"],
  ["pidfd", "pidfd"],
]);

function classifyAnon(entry: FdEntry, name: string): void {
  const made = MADE_AGAIN.get(name);
  if (made) {
    entry.kind = made;
    return;
  }
  const categories: Record<string, UnsupportedCategory> = {
    "[fanotify]": "fanotify",
    fanotify: "fanotify",
    io_uring: "io_uring",
    userfaultfd: "userfaultfd",
  };
  unsupported(entry, categories[name] ?? "anon-inode", name);
}

const { MEM_MAJOR, TTY_MAJOR, TTYAUX_MAJOR, UNIX98_PTY_SLAVE_MAJOR, UNIX98_PTY_MAJOR_COUNT } = DEVICES;
/** /dev/full, /dev/random and /dev/urandom: reopened by path like the others ("devurandom"). */
const RANDOM_LIKE: number[] = [DEVICES.DEV_FULL_MINOR, DEVICES.DEV_RANDOM_MINOR, DEVICES.DEV_URANDOM_MINOR];

/** Character devices a restart can simply reopen: memory devices (null, zero, full, random, urandom), and terminals. */
function classifyCharDevice(entry: FdEntry, path: string): void {
  const { major, minor } = splitDev(entry.rdev);
  const mem = major === MEM_MAJOR;
  if (mem && minor === DEVICES.DEV_NULL_MINOR) entry.kind = "devnull";
  else if (mem && minor === DEVICES.DEV_ZERO_MINOR) entry.kind = "devzero";
  else if (mem && RANDOM_LIKE.includes(minor)) entry.kind = "devurandom";
  else if (isTty(major, minor)) entry.kind = "tty";
  else if (major === TTYAUX_MAJOR && minor === DEVICES.DEV_PTMX_MINOR) entry.kind = "pty-master"; // pty-pairs.ts saves its pair
  else unsupported(entry, "device", `character device ${path} (${major}:${minor})`);
}

/** Virtual consoles and serial lines (4), /dev/tty and /dev/console (5:0, 5:1), pty slaves (136-143). */
function isTty(major: number, minor: number): boolean {
  return major === TTY_MAJOR || (major === TTYAUX_MAJOR && (minor === DEVICES.DEV_TTY_MINOR || minor === DEVICES.DEV_CONSOLE_MINOR)) || isPtySlave(major);
}

function isPtySlave(major: number): boolean {
  return major >= UNIX98_PTY_SLAVE_MAJOR && major < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT;
}

/**
 * Socket inode -> description, from the target's own network namespace (/proc/PID/net/*),
 * read lazily on the first socket.
 */
class SocketTable {
  private table: Map<bigint, string> | undefined;
  private readonly unix = new Set<bigint>();
  /** TCP and UDP sockets (inet-sockets.ts); raw and UDP-Lite ones stay unsupported. */
  private readonly inet = new Set<bigint>();
  constructor(private readonly pid: number) {}

  /**
   * What socket `ino` (on fd `fd`) is. One no table lists is asked what it is: a TCP or UDP
   * socket not bound yet, or one made after the tables were read (cr check reads a running process).
   */
  classify(ino: bigint, fd: number): { kind: "unix-socket" | "inet-socket" | "unsupported"; what: string } {
    this.table ??= this.load();
    const what = this.table.get(ino);
    if (what === undefined) return this.unlisted(ino, fd);
    return { kind: this.unix.has(ino) ? "unix-socket" : this.inet.has(ino) ? "inet-socket" : "unsupported", what };
  }

  private unlisted(ino: bigint, fd: number): { kind: "unix-socket" | "inet-socket" | "unsupported"; what: string } {
    const domain = throughCopy(this.pid, fd, socketDomain);
    const proto = domain && INET_PROTOCOLS[domain.protocol];
    if (domain?.family === SOCKET.AF_UNIX) return { kind: "unix-socket", what: `UNIX socket (inode ${ino})` };
    if (domain && proto && (domain.family === SOCKET.AF_INET || domain.family === SOCKET.AF_INET6)) {
      return { kind: "inet-socket", what: `${proto}${domain.family === SOCKET.AF_INET6 ? "6" : ""} socket (unbound)` };
    }
    return { kind: "unsupported", what: `socket (inode ${ino}, not in the network namespace of process ${this.pid})` };
  }

  private load(): Map<bigint, string> {
    const table = new Map<bigint, string>();
    for (const [file, proto] of [
      ["tcp", "TCP"],
      ["tcp6", "TCP6"],
      ["udp", "UDP"],
      ["udp6", "UDP6"],
      ["udplite", "UDPLite"],
      ["udplite6", "UDPLite6"],
      ["raw", "raw IP"],
      ["raw6", "raw IPv6"],
    ] as const) {
      for (const [ino, desc] of parseInet(this.readNet(file), proto)) {
        table.set(ino, desc);
        if (/^(TCP|UDP)6?$/.test(proto)) this.inet.add(ino);
      }
    }
    for (const [ino, desc] of parseUnix(this.readNet("unix"))) {
      table.set(ino, desc);
      this.unix.add(ino);
    }
    for (const [ino, desc] of parseNetlink(this.readNet("netlink"))) table.set(ino, desc);
    for (const [ino, desc] of parsePacket(this.readNet("packet"))) table.set(ino, desc);
    return table;
  }

  /** A /proc/PID/net file, or "" when that protocol is not built into this kernel. */
  private readNet(name: string): string {
    try {
      return readFileSync(procPath(this.pid, `net/${name}`), "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT" && processExists(this.pid)) return "";
      throw procError(this.pid, `net/${name}`, error);
    }
  }
}

const INET_PROTOCOLS: Record<number, string> = { [SOCKET.IPPROTO_TCP]: "TCP", [SOCKET.IPPROTO_UDP]: "UDP" };

const TCP_STATES: Record<string, string> = {
  "01": "established",
  "02": "syn-sent",
  "03": "syn-received",
  "04": "fin-wait-1",
  "05": "fin-wait-2",
  "06": "time-wait",
  "07": "closed",
  "08": "close-wait",
  "09": "last-ack",
  "0A": "listening",
  "0B": "closing",
};

function parseInet(text: string, proto: string): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = inetAddress(cols[1]!);
    const remote = inetAddress(cols[2]!);
    const isTcp = proto.startsWith("TCP");
    const state = cols[3]!;
    let desc = `${proto} socket ${local}`;
    if (isTcp) {
      desc += state === "0A" ? " (listening)" : ` -> ${remote} (${TCP_STATES[state] ?? `state ${state}`})`;
    } else if (state === "01") {
      desc += ` -> ${remote} (connected)`;
    }
    out.push([BigInt(cols[9]!), desc]);
  }
  return out;
}

/** `0100007F:A0EB` -> `127.0.0.1:41195`; IPv6 as four host-order 32-bit words. */
function inetAddress(hexAddr: string): string {
  const [addr, port] = hexAddr.split(":") as [string, string];
  const portNum = parseInt(port, 16);
  if (addr.length === 8) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(parseInt(addr, 16));
    return `${[...bytes].join(".")}:${portNum}`;
  }
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) bytes.writeUInt32LE(parseInt(addr.slice(i * 8, i * 8 + 8), 16), i * 4);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return `[${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}]:${portNum}`;
}

const UNIX_TYPES: Record<string, string> = { "0001": "stream", "0002": "datagram", "0005": "seqpacket" };

function parseUnix(text: string): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (const line of text.split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    const cols = line.trim().split(/\s+/);
    if (cols.length < 7) continue;
    const type = UNIX_TYPES[cols[4]!] ?? `type ${cols[4]}`;
    const listening = (parseInt(cols[3]!, 16) & SOCKET.__SO_ACCEPTCON) !== 0;
    const connected = cols[5] === "03";
    const path = cols.slice(7).join(" ");
    const name = path === "" ? "unnamed" : path.startsWith("@") ? `abstract ${path}` : path;
    const state = listening ? "listening" : connected ? "connected" : "unconnected";
    out.push([BigInt(cols[6]!), `UNIX ${type} socket ${name} (${state})`]);
  }
  return out;
}

const NETLINK_PROTOCOLS: Record<string, string> = {
  "0": "route",
  "4": "sock_diag",
  "9": "audit",
  "15": "kobject_uevent",
  "16": "generic",
};

function parseNetlink(text: string): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (const line of text.split("\n").slice(1)) {
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const proto = NETLINK_PROTOCOLS[cols[1]!] ?? `protocol ${cols[1]}`;
    out.push([BigInt(cols[9]!), `netlink ${proto} socket`]);
  }
  return out;
}

function parsePacket(text: string): [bigint, string][] {
  const out: [bigint, string][] = [];
  for (const line of text.split("\n").slice(1)) {
    // sk RefCnt Type Proto Iface R Rmem User Inode
    const cols = line.trim().split(/\s+/);
    if (cols.length < 9) continue;
    out.push([BigInt(cols[8]!), `packet socket (protocol 0x${cols[3]})`]);
  }
  return out;
}

const FD_REASONS: Record<UnsupportedCategory, string> = {
  socket: "cr saves UNIX, TCP and UDP sockets only (a raw or packet socket is bound to the kernel's network state); close it, or hand it over (cr snapshot --inherit-fd N, then cr restart --inherit-fd N:PATH)",
  fanotify: "cr cannot save fanotify instances",
  io_uring: "cr cannot save io_uring instances (queued and in-flight requests live in the kernel)",
  userfaultfd: "the program uses its own userfaultfd, which cr cannot save",
  memfd: "cr cannot restore huge-page memory yet",
  "anon-inode": "cr cannot save this kind of kernel object",
  device: "cr cannot save device state; only /dev/null, /dev/zero, /dev/random, /dev/urandom, /dev/full and terminals are reopened",
  "deleted-file": "the file was deleted, so a restart cannot reopen it; keep a link to it or close it",
  namespace: "cr cannot save namespace references",
  other: "cr does not know how to reopen it",
};

/**
 * What `cr check` says of the files of `pid`: a working directory a restart cannot recreate, and
 * each descriptor cr cannot save that the user does not hand over (`handedOver`).
 */
export function fileProblems(pid: number, files: FdEntry[], handedOver: ReadonlySet<number>): Problem[] {
  const cwd = cwdProblem(pid);
  const fds = files.filter((f) => !handedOver.has(f.fd)).flatMap((f) => fdProblem(f) ?? []);
  return cwd ? [{ resource: "cwd", kind: "deleted-cwd", reason: cwd }, ...fds] : fds;
}

function fdProblem(entry: FdEntry): Problem | undefined {
  if (entry.kind !== "unsupported" || entry.internal) return undefined;
  const category = entry.category ?? "other";
  return { resource: `fd ${entry.fd}`, kind: category, reason: `${entry.what ?? entry.target}: ${FD_REASONS[category]}` };
}

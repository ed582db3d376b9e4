/**
 * Network sockets (AF_INET, AF_INET6) of a process tree: TCP and UDP.
 *
 * Checkpoint half: each socket is read once, through cr's own descriptor on it (pidfd_getfd:
 * the same socket, nothing of it changes): family, type, protocol, the address it is bound to,
 * its peer, its TCP state (TCP_INFO: a listening socket's backlog and waiting connections too)
 * and the options a program relies on (SO_REUSEADDR, TCP_NODELAY, IPV6_V6ONLY ..., a table in
 * native inet-sockets.cc). What a restart can make again is saved in the INET_SOCKETS record of
 * its first holder: a listening TCP socket, an unconnected TCP or UDP socket (bound or not), a UDP
 * socket connected to its peer. A TCP connection, or a listening socket with connections waiting
 * to be accepted, is kernel state shared with a peer: `cr check` names it and a snapshot refuses,
 * unless the user chose `--tcp-close` (the connection is saved as closed: the restarted process
 * finds an unconnected socket on its descriptor, and the peer saw the connection end with the
 * checkpointed process). Datagrams waiting in a UDP socket are dropped, with a warning: their
 * senders cannot be given back.
 *
 * Restart half (TreeInetSockets): every socket is made once in cr before the processes exist,
 * with its options, bound to its address and listening with its backlog or connected to its peer,
 * and given to every descriptor on it. SO_REUSEADDR is on for the bind (connections of the
 * checkpointed process in TIME_WAIT hold its port) and set back after. An address taken by now
 * fails the restart with one line before any process exists.
 */
import { closeSync, readFileSync } from "node:fs";
import { InetSocketState, type InetSocketRecord, type TcpConnectionRecord } from "@cr/format";
import {
  bindInet,
  connectInet,
  inetSocket,
  inetSocketOptions,
  inetSocketState,
  listenSocket,
  NativeError,
  setInetSocketOptions,
  SOCKET,
  type InetSocketOption,
  type InetSocketState as KernelState,
} from "@cr/native";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import { throughCopy, type FdEntry } from "./files.js";
import { MadeDescriptors } from "./made-descriptors.js";
import type { HeldFiles, SocketProblem } from "./unix-sockets.js";
import { restoreConnection, saveConnection, silenceRestored, type ConnectionLocks } from "./tcp-connections.js";

const { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE, SOL_SOCKET, SO_REUSEADDR } = SOCKET;

/** What the user chose for what cr would otherwise refuse. */
export interface TcpChoice {
  /** --tcp-close: TCP connections are saved as closed sockets. */
  tcpClose: boolean;
  /** --tcp-established: established connections are saved with TCP_REPAIR (tcp-connections.ts). */
  tcpEstablished: boolean;
}

/** How a restart makes the socket, or why it cannot (kind: as `cr check` names it); and what it will not give back. */
type Verdict = { state: number; warning?: string } | { problem: string; kind: "tcp-connection" | "socket" };

// ================================================================ checkpoint half

function verdict(k: KernelState, what: string, choice: TcpChoice): Verdict {
  if (k.protocol === IPPROTO_UDP) {
    const state = k.peer.length > 0 ? InetSocketState.CONNECTED : InetSocketState.UNCONNECTED;
    return k.inq > 0 ? { state, warning: `${what}: the datagrams waiting to be read are dropped (their senders cannot be given back)` } : { state };
  }
  if (k.protocol !== IPPROTO_TCP) return { problem: `${what}: cr saves TCP and UDP sockets only`, kind: "socket" };
  if (k.tcpState === TCP_CLOSE) return { state: InetSocketState.UNCONNECTED };
  return k.tcpState === TCP_LISTEN ? listening(k, what, choice) : connection(k, what, choice);
}

/** A listening socket: connections waiting in it are not saved (--tcp-close drops them). */
function listening(k: KernelState, what: string, choice: TcpChoice): Verdict {
  if (k.pending === 0) return { state: InetSocketState.LISTENING };
  const waiting = k.pending === 1 ? "1 connection waits to be accepted" : `${k.pending} connections wait to be accepted`;
  if (choice.tcpClose) return { state: InetSocketState.LISTENING, warning: `${what}: ${waiting}: dropped (--tcp-close)` };
  return { problem: `${what}: ${waiting}: cr cannot restore connections not accepted yet; let the program accept them, or snapshot with --tcp-close to drop them (their peers see them end)`, kind: "tcp-connection" };
}

/** A connection: kept as it is with --tcp-established (established ones only), or closed with --tcp-close. */
function connection(k: KernelState, what: string, choice: TcpChoice): Verdict {
  const established = k.tcpState === TCP_ESTABLISHED;
  if (choice.tcpEstablished && established) return { state: InetSocketState.ESTABLISHED };
  if (choice.tcpClose) return { state: InetSocketState.CLOSED, warning: `${what}: closed at restart (--tcp-close): the process finds an unconnected socket on its descriptor` };
  const keep = established ? "snapshot with --kill --tcp-established to take it up again as it is, or with --tcp-close to drop it (its peer sees it end)" : "cr restores established connections only: let it end, or snapshot with --tcp-close to drop it";
  return { problem: `${what}: a TCP connection: ${keep}`, kind: "tcp-connection" };
}

/** Each network socket of `files` once (its lowest fd), but those handed over. */
function heldSockets(files: FdEntry[], handedOver: ReadonlySet<number>): FdEntry[] {
  const seen = new Set<bigint>();
  return files.filter((f) => f.kind === "inet-socket" && !handedOver.has(f.fd) && !seen.has(f.ino) && seen.add(f.ino));
}

/** `cr check`: the process's network sockets a snapshot would refuse. */
export function inetSocketProblems(pid: number, files: FdEntry[], handedOver: ReadonlySet<number>, choice: TcpChoice): Problem[] {
  return heldSockets(files, handedOver).flatMap((entry) => {
    const k = throughCopy(pid, entry.fd, inetSocketState);
    if (!k) return []; // closed meanwhile (cr check reads a running process)
    const v = verdict(k, entry.what ?? entry.target, choice);
    return "problem" in v ? [{ resource: `fd ${entry.fd}`, kind: v.kind, reason: v.problem }] : [];
  });
}

/** What the checkpoint saves of the tree's network sockets: each once, in its first holder's section. */
export interface CollectedInetSockets {
  records: Map<number, InetSocketRecord[]>;
  /** The state of each established connection saved (--tcp-established), by pid like `records`. */
  connections: Map<number, TcpConnectionRecord[]>;
  problems: SocketProblem[];
  warnings: string[];
}

/** Checkpoint half, the tree frozen: every network socket its processes hold, with its options. */
export function collectInetSockets(members: HeldFiles[], handedOver: ReadonlySet<number>, choice: TcpChoice, locks?: ConnectionLocks): CollectedInetSockets {
  const out: CollectedInetSockets = { records: new Map(), connections: new Map(), problems: [], warnings: [] };
  const saved = new Set<bigint>();
  for (const { pid, files } of members) {
    for (const entry of heldSockets(files, handedOver).filter((f) => !saved.has(f.ino))) {
      saved.add(entry.ino);
      const read = throughCopy(pid, entry.fd, (own) => {
        const k = inetSocketState(own);
        return { k, options: inetSocketOptions(own, k.family, k.protocol) };
      });
      if (!read) throw new CrError(`fd ${entry.fd} of process ${pid} was closed while the process was stopped`, { code: "EBADF", pid, fd: entry.fd });
      const v = verdict(read.k, entry.what ?? entry.target, choice);
      if ("problem" in v) {
        out.problems.push({ pid, resource: `fd ${entry.fd}`, kind: v.kind, reason: v.problem });
        continue;
      }
      if (v.warning) out.warnings.push(v.warning);
      const record = recordOf(entry.ino, read.k, read.options, v.state);
      out.records.set(pid, [...(out.records.get(pid) ?? []), record]);
      if (v.state === InetSocketState.ESTABLISHED) out.connections.set(pid, [...(out.connections.get(pid) ?? []), lockAndSave(pid, entry, record, locks)]);
    }
  }
  return out;
}

/** Locks the connection, then reads its state: nothing moves between the read and the restart. */
function lockAndSave(pid: number, entry: FdEntry, record: InetSocketRecord, locks: ConnectionLocks | undefined): TcpConnectionRecord {
  if (!locks) throw new CrError(`fd ${entry.fd} of process ${pid}: an established connection is saved only with its lock (--tcp-established)`, { code: "EINVAL", pid, fd: entry.fd });
  locks.lock(record);
  return saveConnection(pid, entry.fd, entry.ino);
}

function recordOf(inode: bigint, k: KernelState, options: InetSocketOption[], state: number): InetSocketRecord {
  return {
    inode,
    family: k.family,
    type: k.type,
    protocol: k.protocol,
    state,
    local: new Uint8Array(k.local),
    peer: new Uint8Array(k.peer),
    backlog: state === InetSocketState.LISTENING ? k.backlog : 0,
    options: options.map((o) => ({ level: o.level, option: o.option, value: BigInt(Math.round(o.value)) })),
  };
}

/** "127.0.0.1:8080", "[::1]:8080" of a sockaddr_in or sockaddr_in6. */
export function formatAddress(sockaddr: Uint8Array): string {
  const b = Buffer.from(sockaddr);
  if (b.length < 4) return "(unbound)";
  const port = b.readUInt16BE(2);
  if (b.readUInt16LE(0) === AF_INET) return `${[...b.subarray(4, 8)].join(".")}:${port}`;
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(8 + i * 2).toString(16));
  return `[${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}]:${port}`;
}

// ================================================================ restart half

/** Restart half: every network socket of a tree image, made once in cr and held until the processes have them. */
export class TreeInetSockets extends MadeDescriptors<bigint> {
  private readonly established: number[] = [];

  constructor(records: InetSocketRecord[], connections: TcpConnectionRecord[]) {
    super();
    const states = new Map(connections.map((c) => [c.inode, c]));
    try {
      for (const r of records) {
        if (this.made.has(r.inode)) continue;
        const fd = make(r, states.get(r.inode));
        this.made.set(r.inode, fd);
        if (r.state === InetSocketState.ESTABLISHED) this.established.push(fd);
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The restart failed: the connections close without a word to their peers (and stay locked). */
  abandon(): void {
    this.established.splice(0).forEach(silenceRestored);
  }
}

function make(r: InetSocketRecord, connection: TcpConnectionRecord | undefined): number {
  const fd = call(r, "socket", () => inetSocket(r.family, r.type, r.protocol));
  try {
    const options = r.options.map((o) => ({ level: o.level, option: o.option, value: Number(o.value) }));
    if (r.state === InetSocketState.CLOSED || r.state === InetSocketState.ESTABLISHED) {
      call(r, "setsockopt", () => setInetSocketOptions(fd, options));
      if (r.state === InetSocketState.ESTABLISHED) restoreConnection(fd, r, needConnection(r, connection));
      return fd;
    }
    const reuse = options.find((o) => o.level === SOL_SOCKET && o.option === SO_REUSEADDR) ?? { level: SOL_SOCKET, option: SO_REUSEADDR, value: 0 };
    call(r, "setsockopt", () => setInetSocketOptions(fd, [...options.filter((o) => o !== reuse), { ...reuse, value: 1 }]));
    if (isBound(r.local)) call(r, "bind", () => bindInet(fd, Buffer.from(r.local)));
    call(r, "setsockopt", () => setInetSocketOptions(fd, [reuse]));
    if (r.state === InetSocketState.LISTENING) call(r, "listen", () => listenSocket(fd, r.backlog));
    if (r.state === InetSocketState.CONNECTED) call(r, "connect", () => connectInet(fd, Buffer.from(r.peer)));
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** Who holds the port of `r` now, from /proc/net: what the user can do about it. */
function whyInUse(r: InetSocketRecord): string {
  const port = Buffer.from(r.local).readUInt16BE(2);
  const tables = r.protocol === IPPROTO_TCP ? ["tcp", "tcp6"] : ["udp", "udp6"];
  const states = tables.flatMap((t) => portStates(readFileSync(`/proc/self/net/${t}`, "utf8"), port));
  if (states.length > 0 && states.every((s) => s === TIME_WAIT)) {
    return `connections that ended on its port wait in TIME_WAIT, and the program did not set SO_REUSEADDR: the kernel frees the port within 60 s (or: ss -K state time-wait '( sport = :${port} )'); restart then`;
  }
  return "another socket is bound there (is the checkpointed process still running?): a restart cannot bind it again; free it to restart";
}

/** The /proc/net/tcp "st" column of every socket on local port `port`. */
function portStates(table: string, port: number): string[] {
  return table
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length > 3 && parseInt(cols[1]!.split(":")[1]!, 16) === port)
    .map((cols) => cols[3]!);
}

/** /proc/net/tcp's state of a connection closed here first, waiting out its last segments. */
const TIME_WAIT = "06";

function needConnection(r: InetSocketRecord, c: TcpConnectionRecord | undefined): TcpConnectionRecord {
  if (!c) throw new CrError(`the image has the established TCP connection ${describe(r)} (socket ${r.inode}) without its TCP_CONNECTIONS state`, { code: "BAD_IMAGE", step: "open files" });
  return c;
}

/** An address with a port: bound by the program (or by its first send, a UDP socket). */
function isBound(sockaddr: Uint8Array): boolean {
  return sockaddr.length >= 4 && Buffer.from(sockaddr).readUInt16BE(2) !== 0;
}

function describe(r: InetSocketRecord): string {
  const proto = r.protocol === IPPROTO_TCP ? "TCP" : "UDP";
  return `${proto}${r.family === AF_INET6 ? "6" : ""} socket ${formatAddress(r.local)}`;
}

function call<T>(r: InetSocketRecord, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    if (error.code === "EADDRINUSE") throw new CrError(`${describe(r)}: the address is in use now: ${whyInUse(r)}`, { code: "EADDRINUSE", step: "open files", cause: error });
    const option = /^setsockopt (.+)$/.exec(error.syscall ?? "")?.[1];
    throw new CrError(`cannot make the ${describe(r)} again (${option ?? what}): ${error.message}`, { code: error.code, step: "open files", cause: error });
  }
}

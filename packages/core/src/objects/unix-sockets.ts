/**
 * UNIX sockets (AF_UNIX) of a process tree: stream, datagram and seqpacket.
 *
 * Checkpoint half: sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG_*) says of every socket of cr's network
 * namespace its type, state, peer, bound name, shutdown state and, for a listening one, the
 * connections waiting to be accepted. A socket is saved when a restart can make it again:
 * - connected, its peer in the tree (a socketpair, or a connection whose both ends the tree holds),
 *   or its peer closed since;
 * - listening, or unconnected, bound to an absolute path (bound again at restart: the path must be
 *   free, or a socket file no socket is bound to any more, which the restart removes) or to an
 *   abstract name, or unnamed;
 * - connecting to a listening socket of the tree, nothing sent yet (connected again at restart).
 * Its options and the bytes waiting to be read are read through cr's own descriptor on it
 * (pidfd_getfd): MSG_PEEK, message by message for datagrams and seqpackets, so nothing is consumed.
 * Everything else is a problem `cr check` names, with the reason, from this module: a peer outside
 * the tree (unless the user hands the descriptor over, `--inherit-fd`), descriptors in flight
 * (SCM_RIGHTS), a name a restart could not bind again.
 *
 * Restart half (TreeSockets): every socket is made once in cr, before the processes exist, and given
 * to every descriptor on it (one open file description, as before): a connected pair by
 * socketpair(2), each end's queued bytes written back through the other end in order; a listening
 * socket bound again and listening with its backlog, its waiting connections connected again in
 * order; then the options and the shutdown state.
 */
import { closeSync, lstatSync, readdirSync, readlinkSync, unlinkSync } from "node:fs";
import { isAbsolute } from "node:path";
import { SocketOption, SocketState, type FdRecord, type UnixSocketRecord } from "@cr/format";
import {
  bindUnix,
  connectUnix,
  listenSocket,
  NativeError,
  peekSocket,
  sendMessages,
  setSocketOptions,
  shutdownSocket,
  SOCKET,
  socketOptions,
  splitDev,
  splitKernelDev,
  STAT,
  unixSocket,
  unixSocketPair,
  unixSockets,
  type QueuedMessage,
  type SocketOptions,
  type UnixSocketDiag,
} from "@cr/native";
import type { Problem } from "../check.js";
import { CrError, errnoCode } from "../errors.js";
import { commOf } from "../process/procfs.js";
import { throughCopy, type FdEntry } from "./files.js";
import { MadeDescriptors } from "./made-descriptors.js";

const { S_IFSOCK } = STAT;
const { SOCK_DGRAM, TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUT_RD, SHUT_WR, SHUT_RDWR } = SOCKET;

/** One process's descriptors, as files.ts reads them. */
export interface HeldFiles {
  pid: number;
  files: FdEntry[];
}

/** A problem of a socket, named by a descriptor of process `pid`. */
export interface SocketProblem extends Problem {
  pid: number;
}

// ================================================================ checkpoint half

interface Holder {
  pid: number;
  entry: FdEntry;
}

/** A socket the tree holds: every descriptor on it, and what the kernel says of it. */
interface TreeSocket {
  inode: bigint;
  holders: Holder[];
  diag: UnixSocketDiag | undefined;
}

/** The tree's UNIX sockets, and every socket of the namespace as sock_diag shows it now. */
class SocketTree {
  readonly sockets = new Map<bigint, TreeSocket>();
  private readonly diags = new Map<bigint, UnixSocketDiag>();
  /** A connecting socket -> the listening socket its connection waits in. */
  private readonly waitsIn = new Map<bigint, bigint>();

  constructor(
    members: HeldFiles[],
    readonly handedOver: ReadonlySet<number>,
  ) {
    for (const { pid, files } of members) for (const entry of files) if (entry.kind === "unix-socket") this.add(pid, entry);
    if (this.sockets.size === 0) return;
    for (const d of unixSockets()) {
      this.diags.set(d.inode, d);
      for (const client of d.pending) this.waitsIn.set(client, d.inode);
    }
    for (const s of this.sockets.values()) {
      s.diag = this.diags.get(s.inode);
      // Closed since its descriptors were listed (`cr check` reads a running process): not held.
      if (!s.diag && !s.holders.some(isHeld)) this.sockets.delete(s.inode);
    }
  }

  diag(inode: bigint): UnixSocketDiag | undefined {
    return this.diags.get(inode);
  }

  listenerOf(inode: bigint): bigint | undefined {
    return this.waitsIn.get(inode);
  }

  private add(pid: number, entry: FdEntry): void {
    const known = this.sockets.get(entry.ino);
    if (known) known.holders.push({ pid, entry });
    else this.sockets.set(entry.ino, { inode: entry.ino, holders: [{ pid, entry }], diag: undefined });
  }
}

function isHeld({ pid, entry }: Holder): boolean {
  try {
    return readlinkSync(`/proc/${pid}/fd/${entry.fd}`) === `socket:[${entry.ino}]`;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw new CrError(`cannot read fd ${entry.fd} of process ${pid}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", pid, fd: entry.fd, cause: error });
  }
}

/** How a restart makes a socket again, or why it cannot. */
type Verdict = { state: number; peer: bigint; nameFile: number } | { problem: string };

/** `cr check`: why the tree's UNIX sockets cannot be saved (nothing is read from their queues). */
export function unixSocketProblems(members: HeldFiles[], handedOver: ReadonlySet<number>): SocketProblem[] {
  const tree = new SocketTree(members, handedOver);
  return [...tree.sockets.values()].flatMap((s) => {
    const v = verdict(s, tree);
    return "problem" in v ? [problemOf(s, v.problem)] : [];
  });
}

function problemOf(s: TreeSocket, reason: string): SocketProblem {
  const { pid, entry } = s.holders[0]!;
  return { pid, resource: `fd ${entry.fd}`, kind: "unix-socket", reason: `${entry.what ?? entry.target}: ${reason}` };
}

function verdict(s: TreeSocket, tree: SocketTree): Verdict {
  const d = s.diag;
  if (!d) return { problem: "sock_diag does not show it: it is not in cr's network namespace; run cr in the process's" };
  const inFlight = s.holders[0]!.entry.scmFds ?? 0;
  if (inFlight > 0) return { problem: `${inFlight} descriptor(s) sent over it (SCM_RIGHTS) wait to be received, which cr cannot save; check again once they are` };
  if (d.state === TCP_LISTEN) return bound(d, SocketState.LISTENING, 0n);
  if (d.state === TCP_CLOSE) return bound(d, SocketState.UNCONNECTED, 0n);
  if (d.state === TCP_ESTABLISHED) return connected(s, d, tree);
  return { problem: `it is in state ${d.state}, which cr does not know` };
}

function connected(s: TreeSocket, d: UnixSocketDiag, tree: SocketTree): Verdict {
  if (d.peer !== 0n) {
    if (!tree.sockets.has(d.peer)) return outside(s, tree, `connected to ${peerName(d.peer, tree)}`);
    // A datagram socket connected to one that is not connected back sends to its name: bound again.
    const mutual = tree.diag(d.peer)?.peer === d.inode;
    return mutual ? { state: SocketState.CONNECTED, peer: d.peer, nameFile: 0 } : bound(d, SocketState.CONNECTED, d.peer);
  }
  const listener = tree.listenerOf(d.inode);
  if (listener === undefined) return { state: SocketState.PEER_CLOSED, peer: 0n, nameFile: 0 };
  if (!tree.sockets.has(listener)) return outside(s, tree, `waiting to be accepted by ${peerName(listener, tree)}`);
  if (d.wqueue > 0) return { problem: "its connection waits to be accepted and has sent bytes already, which cr cannot read before it is accepted; check again once it is" };
  return { state: SocketState.CONNECTING, peer: listener, nameFile: 0 };
}

/** A peer outside the tree: refused, unless every descriptor on the socket is handed over at restart. */
function outside(s: TreeSocket, tree: SocketTree, how: string): Verdict {
  if (s.holders.every((h) => tree.handedOver.has(h.entry.fd))) return { state: SocketState.OUTSIDE, peer: 0n, nameFile: 0 };
  const fd = s.holders.find((h) => !tree.handedOver.has(h.entry.fd))!.entry.fd;
  return { problem: `${how}, outside the tree: a restart cannot connect it again; close it, or hand it over (cr snapshot --inherit-fd ${fd}, then cr restart --inherit-fd ${fd}:PATH)` };
}

/** A socket a restart binds to its name again: the name must be one it can bind. */
function bound(d: UnixSocketDiag, state: number, peer: bigint): Verdict {
  if (!isPath(d.name)) return { state, peer, nameFile: 0 };
  const path = pathOf(d.name);
  if (!isAbsolute(path)) return { problem: `bound to the relative path ${path}, which a restart cannot bind again from another directory` };
  const now = lstatOrUndefined(path);
  if (now === undefined) return { state, peer, nameFile: 0 };
  if (d.file && fileKey(splitKernelDev(d.file.dev), d.file.ino) === fileKey(splitDev(now.dev), now.ino)) return { state, peer, nameFile: 1 };
  return { problem: `bound to ${path}, which is another file now: a restart could not bind it again` };
}

/** Who holds the socket `inode` (outside the tree), for a person. */
function peerName(inode: bigint, tree: SocketTree): string {
  const d = tree.diag(inode);
  const named = d && d.name.length > 0 ? ` ${printable(d.name)}` : "";
  const holder = holderOf(inode);
  return `socket${named} (inode ${inode}${holder === undefined ? "" : `, of process ${holder} (${commOf(holder) ?? "exited"})`})`;
}

/** The first process with a descriptor on socket `inode` (a scan of every /proc/PID/fd: only for a problem). */
function holderOf(inode: bigint): number | undefined {
  const link = `socket:[${inode}]`;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === link)) return Number(pid);
    } catch (error) {
      if (!["ENOENT", "EACCES", "ESRCH"].includes(errnoCode(error) ?? "")) throw error; // exited meanwhile
    }
  }
  return undefined;
}

/** What the checkpoint saves of the tree's UNIX sockets: each socket once, in its first holder's section. */
export interface CollectedSockets {
  /** By pid: the sockets that process's section saves. */
  records: Map<number, UnixSocketRecord[]>;
  problems: SocketProblem[];
  /** What a restart will not give back exactly. */
  warnings: string[];
}

/** A socket read while the tree is frozen: its record, and the sender of each queued message. */
interface Read {
  socket: TreeSocket;
  record: UnixSocketRecord;
  senders: Buffer[];
}

/** Checkpoint half, the tree frozen: every UNIX socket its processes hold, with its options and queue. */
export function collectUnixSockets(members: HeldFiles[], handedOver: ReadonlySet<number>): CollectedSockets {
  const tree = new SocketTree(members, handedOver);
  const out: CollectedSockets = { records: new Map(), problems: [], warnings: [] };
  const read: Read[] = [];
  for (const s of tree.sockets.values()) {
    const v = verdict(s, tree);
    const r = "problem" in v ? undefined : readSocket(s, v, tree);
    const problem = "problem" in v ? v.problem : queueProblem(r!, tree);
    if (problem !== undefined) out.problems.push(problemOf(s, problem));
    else read.push(r!);
  }
  for (const r of read) {
    const pid = r.socket.holders[0]!.pid;
    out.records.set(pid, [...(out.records.get(pid) ?? []), r.record]);
    out.warnings.push(...warningsOf(r, tree));
  }
  return out;
}

function readSocket(s: TreeSocket, v: Exclude<Verdict, { problem: string }>, tree: SocketTree): Read {
  const d = s.diag!;
  if (v.state === SocketState.OUTSIDE) return { socket: s, record: outsideRecord(s.inode, d.type), senders: [] };
  const { pid, entry } = s.holders[0]!;
  const got = throughCopy(pid, entry.fd, (own) => ({ options: socketOptions(own), queue: peekQueue(own, d, v.state) }));
  if (!got) throw new CrError(`fd ${entry.fd} of process ${pid} was closed while the process was stopped`, { code: "EBADF", pid, fd: entry.fd });
  const listening = v.state === SocketState.LISTENING;
  const record: UnixSocketRecord = {
    inode: s.inode,
    type: d.type,
    state: v.state,
    peer: v.peer,
    name: new Uint8Array(d.name),
    nameFile: v.nameFile,
    backlog: listening ? d.wqueue : 0,
    pending: listening ? d.pending.filter((c) => tree.sockets.has(c)) : [],
    shutdown: d.shutdown,
    ...optionFields(got.options),
    queue: got.queue.map((m) => new Uint8Array(m.data)),
  };
  return { socket: s, record, senders: got.queue.map((m) => m.from) };
}

/**
 * What waits to be read. No data can reach a listening or connecting socket, nor a stream or
 * seqpacket socket never connected.
 */
function peekQueue(own: number, d: UnixSocketDiag, state: number): QueuedMessage[] {
  if (state === SocketState.LISTENING || state === SocketState.CONNECTING) return [];
  if (d.type !== SOCK_DGRAM && state === SocketState.UNCONNECTED) return [];
  return peekSocket(own, d.type, (d.shutdown & RCV_SHUTDOWN) !== 0);
}

function outsideRecord(inode: bigint, type: number): UnixSocketRecord {
  return { inode, type, state: SocketState.OUTSIDE, peer: 0n, name: new Uint8Array(), nameFile: 0, backlog: 0, pending: [], shutdown: 0, options: 0, sndbuf: 0, rcvbuf: 0, rcvlowat: 0, peekOffset: -1, rcvtimeoUs: 0n, sndtimeoUs: 0n, queue: [] };
}

function optionFields(o: SocketOptions): Pick<UnixSocketRecord, "options" | "sndbuf" | "rcvbuf" | "rcvlowat" | "peekOffset" | "rcvtimeoUs" | "sndtimeoUs"> {
  const bits = (o.passcred ? SocketOption.PASSCRED : 0) | (o.passsec ? SocketOption.PASSSEC : 0) | (o.passpidfd ? SocketOption.PASSPIDFD : 0) | (o.passrights ? 0 : SocketOption.NO_PASSRIGHTS);
  return { options: bits, sndbuf: o.sndbuf, rcvbuf: o.rcvbuf, rcvlowat: o.rcvlowat, peekOffset: o.peekOffset, rcvtimeoUs: BigInt(o.rcvtimeoUs), sndtimeoUs: BigInt(o.sndtimeoUs) };
}

/**
 * Datagrams a restart cannot send again as they were: into a socket with no name to send them to,
 * or from a named sender (only that socket can send from its name). A connected pair's go through
 * its other end.
 */
function queueProblem(r: Read, tree: SocketTree): string | undefined {
  const { record, senders } = r;
  if (record.queue.length === 0 || !sentToName(record, tree)) return undefined;
  if (record.name.length === 0) return `${record.queue.length} datagram(s) wait in it, but it has no name a restart could send them to again`;
  const named = senders.find((from) => from.length > 0);
  if (named && record.state === SocketState.UNCONNECTED) return `a datagram from ${printable(named)} waits in it, which a restart cannot send again from that name`;
  return undefined;
}

/** Whether a restart sends the socket's queue to its name (not through a connected peer of its own). */
function sentToName(record: UnixSocketRecord, tree: SocketTree): boolean {
  if (record.state === SocketState.UNCONNECTED) return true;
  return record.state === SocketState.CONNECTED && tree.diag(record.peer)?.peer !== record.inode;
}

/** What a restart will not give back exactly, said at the snapshot. */
function warningsOf(r: Read, tree: SocketTree): string[] {
  const { socket, record } = r;
  const { pid, entry } = socket.holders[0]!;
  const what = `fd ${entry.fd} of process ${pid} (${entry.what ?? entry.target})`;
  const out: string[] = [];
  const peer = tree.diag(record.peer);
  const mutual = record.state === SocketState.CONNECTED && peer?.peer === record.inode;
  const pair = record.state === SocketState.PEER_CLOSED || (mutual && record.inode < record.peer); // once per pair
  if (pair && (record.name.length > 0 || (mutual && peer!.name.length > 0))) {
    out.push(`${what}: a restart makes its connection again as a socketpair: getsockname and getpeername give no name then`);
  }
  if (record.options & SocketOption.PASSCRED && record.queue.length > 0) {
    out.push(`${what} receives credentials (SO_PASSCRED): its ${record.queue.length} queued message(s) come back sent by cr`);
  }
  const dropped = record.state === SocketState.LISTENING ? socket.diag!.pending.length - record.pending.length : 0;
  if (dropped > 0) out.push(`${what}: ${dropped} connection(s) from outside the tree wait to be accepted: a restart does not have them`);
  return out;
}

// ================================================================ restart half

/** A descriptor of the image on a socket: which process's, for errors. */
export interface SocketFd {
  pid: number;
  fd: FdRecord;
}

type Sockets = ReadonlyMap<bigint, UnixSocketRecord>;

/** Each socket once, by inode (the image saves each once; a duplicate would be the same). */
export function socketsByInode(records: UnixSocketRecord[]): Sockets {
  return new Map(records.map((r) => [r.inode, r]));
}

/** A connected socket whose peer is connected back to it: the two are one socketpair. */
function mutual(r: UnixSocketRecord, sockets: Sockets): boolean {
  return r.state === SocketState.CONNECTED && sockets.get(r.peer)?.peer === r.inode;
}

/** Whether a restart binds the socket to its saved name. */
function binds(r: UnixSocketRecord, sockets: Sockets): boolean {
  if (r.name.length === 0) return false;
  return r.state === SocketState.LISTENING || r.state === SocketState.UNCONNECTED || (r.state === SocketState.CONNECTED && !mutual(r, sockets));
}

/**
 * Restart's "check files": every name a restart binds is free (or a socket file no socket is bound
 * to any more, which it removes), and every descriptor on a socket connected outside the tree is
 * handed over with --inherit-fd.
 */
export function checkSockets(sockets: Sockets, fds: SocketFd[], inherit: ReadonlyMap<number, string>, crid: bigint): void {
  for (const { pid, fd } of fds.filter((f) => sockets.get(f.fd.inode)?.state === SocketState.OUTSIDE && !inherit.has(f.fd.fd))) {
    throw new CrError(`fd ${fd.fd} of process ${pid} was a UNIX socket connected outside the tree: restart with --inherit-fd ${fd.fd}:PATH to give it a file instead`, { code: "INHERIT_NEEDED", pid, fd: fd.fd, crid, step: "check files" });
  }
  const live = liveNames();
  for (const r of [...sockets.values()].filter((r) => binds(r, sockets))) {
    const state = nameState(r.name, live);
    if (state === "free" || state === "stale") continue;
    const holder = fds.find((f) => f.fd.inode === r.inode);
    const whose = holder ? ` (fd ${holder.fd.fd} of process ${holder.pid})` : "";
    const now = state === "taken" ? "bound by another socket now" : "another file now";
    throw new CrError(`${printable(r.name)}, the name of a UNIX socket${whose} of checkpoint ${crid}, is ${now}: a restart cannot bind it again; free it to restart`, { code: "FILE_CHANGED", crid, path: printable(r.name), ...(holder ? { pid: holder.pid, fd: holder.fd.fd } : {}), step: "check files" });
  }
}

/** Restart half: every UNIX socket of a tree image, made once in cr and held until the processes have them. */
export class TreeSockets extends MadeDescriptors<bigint> {
  /** The other end of each pair whose peer was closed: it writes the queue, then goes. */
  private readonly spares = new Map<bigint, number>();
  /** Socket files cr made: removed again if the restart fails. */
  private readonly bound: string[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly sockets: Sockets) {
    super();
    try {
      const live = liveNames();
      for (const r of sockets.values()) this.make(r, live);
      this.connectAll();
      for (const r of sockets.values()) this.fill(r);
      for (const r of sockets.values()) this.finish(r);
      this.removeGoneNames();
    } catch (error) {
      this.unbind();
      this.close();
      throw error;
    }
  }

  /** Closes cr's descriptors (the processes keep theirs); none is made for a socket connected outside the tree (handed over). */
  override close(): void {
    super.close();
    for (const fd of this.spares.values()) closeSync(fd);
    this.spares.clear();
  }

  /** Removes the socket files cr bound: the restart failed, no process will use them. */
  unbind(): void {
    for (const path of this.bound.splice(0)) unlinkIfThere(path);
  }

  private make(r: UnixSocketRecord, live: LiveNames): void {
    if (r.state === SocketState.OUTSIDE || this.made.has(r.inode)) return;
    if (mutual(r, this.sockets) || r.state === SocketState.PEER_CLOSED) {
      const [a, b] = call(r, "socketpair", () => unixSocketPair(r.type));
      this.made.set(r.inode, a);
      if (r.state === SocketState.PEER_CLOSED) this.spares.set(r.inode, b);
      else this.made.set(r.peer, b);
      return;
    }
    const fd = call(r, "socket", () => unixSocket(r.type));
    this.made.set(r.inode, fd);
    if (binds(r, this.sockets)) this.bind(fd, r, live);
    if (r.state === SocketState.LISTENING) call(r, "listen", () => listenSocket(fd, r.backlog));
  }

  private bind(fd: number, r: UnixSocketRecord, live: LiveNames): void {
    const path = isPath(r.name) ? pathOf(r.name) : undefined;
    if (path !== undefined && nameState(r.name, live) === "stale") {
      unlinkIfThere(path);
      this.warnings.push(`removed the stale socket file ${path} (no socket was bound to it any more) to bind the restarted socket there`);
    }
    call(r, "bind", () => bindUnix(fd, Buffer.from(r.name)));
    if (path !== undefined) this.bound.push(path);
  }

  /** Connections waiting in a listening socket, in order, and datagram sockets connected one way. */
  private connectAll(): void {
    for (const r of this.sockets.values()) {
      if (r.state === SocketState.LISTENING) for (const client of r.pending) this.connect(client, r);
      else if (r.state === SocketState.CONNECTED && !mutual(r, this.sockets)) this.connect(r.inode, this.sockets.get(r.peer)!);
    }
  }

  private connect(inode: bigint, to: UnixSocketRecord): void {
    const fd = this.made.get(inode);
    if (fd === undefined) throw new CrError(`the image has no UNIX socket ${inode}, which waits to connect to ${printable(to.name)}`, { code: "BAD_IMAGE", step: "open files" });
    call(to, "connect", () => connectUnix(fd, Buffer.from(to.name)));
  }

  /** The queue, written by the socket's peer (or, for a datagram socket, to its name). */
  private fill(r: UnixSocketRecord): void {
    if (r.queue.length === 0) return;
    const queue = r.queue.map((m) => Buffer.from(m));
    if (mutual(r, this.sockets)) return call(r, "send", () => sendMessages(this.made.get(r.peer)!, queue));
    if (r.state === SocketState.PEER_CLOSED) return call(r, "send", () => sendMessages(this.spares.get(r.inode)!, queue));
    if (r.state === SocketState.CONNECTED) return call(r, "send", () => sendMessages(this.made.get(r.peer)!, queue, Buffer.from(r.name)));
    const sender = call(r, "socket", () => unixSocket(SOCK_DGRAM)); // unnamed, as the senders were
    try {
      call(r, "send", () => sendMessages(sender, queue, Buffer.from(r.name)));
    } finally {
      closeSync(sender);
    }
  }

  /** Options and shutdown state, once the queue is in; a closed peer's end goes last. */
  private finish(r: UnixSocketRecord): void {
    const fd = this.made.get(r.inode);
    if (fd === undefined) return;
    call(r, "setsockopt", () => setSocketOptions(fd, optionsOf(r)));
    const how = shutdownHow(r.shutdown);
    if (how !== undefined) call(r, "shutdown", () => shutdownSocket(fd, how));
    const spare = this.spares.get(r.inode);
    if (spare === undefined) return;
    if (r.type !== SOCK_DGRAM) call(r, "shutdown", () => shutdownSocket(spare, SHUT_RDWR));
    closeSync(spare);
    this.spares.delete(r.inode);
  }

  /** A socket whose file had been removed is bound, connected to, then loses its file again. */
  private removeGoneNames(): void {
    for (const r of this.sockets.values()) {
      if (!binds(r, this.sockets) || !isPath(r.name) || r.nameFile === 1) continue;
      const path = pathOf(r.name);
      unlinkIfThere(path);
      this.bound.splice(this.bound.indexOf(path), 1);
    }
  }
}

function optionsOf(r: UnixSocketRecord): SocketOptions {
  const on = (bit: number) => (r.options & bit) !== 0;
  return {
    type: r.type,
    passcred: on(SocketOption.PASSCRED),
    passsec: on(SocketOption.PASSSEC),
    passpidfd: on(SocketOption.PASSPIDFD),
    passrights: !on(SocketOption.NO_PASSRIGHTS),
    sndbuf: r.sndbuf,
    rcvbuf: r.rcvbuf,
    rcvlowat: r.rcvlowat,
    peekOffset: r.peekOffset,
    rcvtimeoUs: Number(r.rcvtimeoUs),
    sndtimeoUs: Number(r.sndtimeoUs),
  };
}

function shutdownHow(bits: number): number | undefined {
  const rd = (bits & RCV_SHUTDOWN) !== 0;
  const wr = (bits & SEND_SHUTDOWN) !== 0;
  return rd && wr ? SHUT_RDWR : rd ? SHUT_RD : wr ? SHUT_WR : undefined;
}

/** A kernel call for socket `r`, its failure a CrError of restart's "open files" step. */
function call<T>(r: UnixSocketRecord, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof NativeError)) throw error;
    const name = r.name.length > 0 ? ` ${printable(r.name)}` : "";
    throw new CrError(`cannot make UNIX socket${name} (inode ${r.inode}) again: ${what}: ${error.message}`, { code: error.code, step: "open files", ...(name ? { path: printable(r.name) } : {}), cause: error });
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw new CrError(`cannot remove ${path}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
  }
}

/** The names live sockets of cr's namespace have now: socket files ("dev:ino") and abstract names. */
interface LiveNames {
  files: Set<string>;
  abstract: Set<string>;
}

function liveNames(): LiveNames {
  const live: LiveNames = { files: new Set(), abstract: new Set() };
  for (const d of unixSockets()) {
    if (d.file) live.files.add(fileKey(splitKernelDev(d.file.dev), d.file.ino));
    if (d.name.length > 0 && !isPath(d.name)) live.abstract.add(d.name.toString("latin1"));
  }
  return live;
}

/** A file as a key, from its device split (sock_diag gives the kernel's own dev_t, stat glibc's) and inode. */
function fileKey({ major, minor }: { major: number; minor: number }, ino: bigint): string {
  return `${major}:${minor}:${ino}`;
}

/** Whether a restart can bind `name`: free, a socket file no socket has (stale), taken by a socket, or another file. */
function nameState(name: Uint8Array, live: LiveNames): "free" | "stale" | "taken" | "other" {
  if (!isPath(name)) return live.abstract.has(Buffer.from(name).toString("latin1")) ? "taken" : "free";
  const now = lstatOrUndefined(pathOf(name));
  if (now === undefined) return "free";
  if ((Number(now.mode) & STAT.S_IFMT) !== S_IFSOCK) return "other";
  return live.files.has(fileKey(splitDev(now.dev), now.ino)) ? "taken" : "stale";
}

// ================================================================ names

function isPath(name: Uint8Array): boolean {
  return name.length > 0 && name[0] !== 0;
}

function pathOf(name: Uint8Array): string {
  return Buffer.from(name).toString("utf8");
}

/** A name for a person: a path as it is, an abstract name after "@". */
function printable(name: Uint8Array): string {
  return isPath(name) ? pathOf(name) : `@${Buffer.from(name.subarray(1)).toString("utf8")}`;
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path, { bigint: true });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new CrError(`cannot stat ${path}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
  }
}

/**
 * Established TCP connections, saved with `cr snapshot --kill --tcp-established` and made again
 * by the restart without the peer noticing more than a pause (TCP_REPAIR, as CRIU does).
 *
 * A connection has two ends: saved, the peer must not move either. So each connection is locked
 * first (ConnectionLocks: nftables rules that drop its packets both ways, in table
 * `inet cr_tcp_lock`), its state read in repair mode through cr's own descriptor on it
 * (sequence numbers, received and unacknowledged bytes, window, options: TCP_CONNECTIONS), and
 * once the image is stored the socket is put in repair mode again before the process is killed,
 * so its close sends the peer nothing. The lock stays: the peer's packets are dropped, it
 * retransmits, and the kernel does not answer them with a reset for a socket that is gone.
 * Only `--kill` can save connections: a process that runs on moves them past the image.
 *
 * The restart makes each connection again in repair mode (bound, its sequence numbers set,
 * "connected" without a handshake, options, queues, window), out of repair mode, and, once the
 * process is released, lifts the lock: the peer's retransmissions reach the new socket, which
 * acknowledges them, and the stream goes on. A restart that fails puts its sockets in repair
 * mode before closing them and leaves the lock: the image can be restarted again.
 */
import { execFileSync } from "node:child_process";
import type { InetSocketRecord, TcpConnectionRecord } from "@cr/format";
import { NativeError, SOCKET, tcpRepairOn, tcpRepairRestore, tcpRepairSave } from "@cr/native";
import { CrError } from "../errors.js";
import { throughCopy } from "./files.js";

const TABLE = "inet cr_tcp_lock";

/** The four numbers of a connection, as a lock rule matches them. */
interface Endpoints {
  local: Uint8Array;
  peer: Uint8Array;
}

// ================================================================ checkpoint half

/** The connections a snapshot locked: kept for the restart, or lifted if the snapshot fails. */
export class ConnectionLocks {
  private readonly locked: Endpoints[] = [];

  /** Drops the connection's packets both ways from now on. */
  lock(c: Endpoints): void {
    const { input, output } = rules(c);
    nftScript(`add table ${TABLE}\nadd chain ${TABLE} input { type filter hook input priority -300; }\nadd chain ${TABLE} output { type filter hook output priority -300; }\nadd rule ${TABLE} input ${input}\nadd rule ${TABLE} output ${output}\n`);
    this.locked.push(c);
  }

  /** The snapshot failed: the process runs on with its connections. */
  release(): void {
    unlockConnections(this.locked.splice(0));
  }
}

/** The state of the connection on fd `fd` of `pid`, read while it is locked. */
export function saveConnection(pid: number, fd: number, inode: bigint): TcpConnectionRecord {
  const s = throughCopy(pid, fd, tcpRepairSave);
  if (!s) throw new CrError(`fd ${fd} of process ${pid} was closed while the process was stopped`, { code: "EBADF", pid, fd });
  const { window: w, inq, outq, ...rest } = s;
  return { inode, ...rest, inq: new Uint8Array(inq), outq: new Uint8Array(outq), sndWl1: w.sndWl1, sndWnd: w.sndWnd, maxWindow: w.maxWindow, rcvWnd: w.rcvWnd, rcvWup: w.rcvWup };
}

/** Before the kill: the socket's close then sends the peer nothing (no FIN, no reset). */
export function silenceConnection(pid: number, fd: number): void {
  throughCopy(pid, fd, tcpRepairOn);
}

// ================================================================ restart half

/** Makes cr's new socket `fd` the saved connection, out of repair mode. */
export function restoreConnection(fd: number, socket: InetSocketRecord, c: TcpConnectionRecord): void {
  const { sndWl1, sndWnd, maxWindow, rcvWnd, rcvWup, inq, outq, inode: _inode, ...rest } = c;
  try {
    tcpRepairRestore(fd, Buffer.from(socket.local), Buffer.from(socket.peer), { ...rest, inq: Buffer.from(inq), outq: Buffer.from(outq), window: { sndWl1, sndWnd, maxWindow, rcvWnd, rcvWup } });
  } catch (error) {
    if (error instanceof NativeError) throw new CrError(`cannot make the TCP connection ${describe(socket)} again: ${error.message}`, { code: error.code, step: "open files", cause: error });
    throw error;
  }
}

/** The restart failed: its socket closes without a word to the peer, and the image stays restartable. */
export function silenceRestored(fd: number): void {
  tcpRepairOn(fd);
}

/** Lifts the locks of `connections` (those not locked are passed over). */
export function unlockConnections(connections: Endpoints[]): void {
  if (connections.length === 0 || !nft(["list", "tables"]).includes(TABLE)) return;
  const marks = connections.map((c) => `"${comment(c)}"`);
  for (const chain of ["input", "output"]) {
    const listed = nft(["-a", "list", "chain", ...TABLE.split(" "), chain]).split("\n");
    const handles = listed.filter((line) => marks.some((m) => line.includes(m))).map((line) => /# handle (\d+)/.exec(line)?.[1]);
    if (handles.length > 0) nftScript(handles.map((h) => `delete rule ${TABLE} ${chain} handle ${h}\n`).join(""));
  }
}

function rules(c: Endpoints): { input: string; output: string } {
  const l = endpoint(c.local);
  const p = endpoint(c.peer);
  const mark = `comment "${comment(c)}"`;
  return {
    input: `${p.family} saddr ${p.address} tcp sport ${p.port} ${l.family} daddr ${l.address} tcp dport ${l.port} drop ${mark}`,
    output: `${l.family} saddr ${l.address} tcp sport ${l.port} ${p.family} daddr ${p.address} tcp dport ${p.port} drop ${mark}`,
  };
}

function comment(c: Endpoints): string {
  return `cr ${describe(c)}`;
}

/** A sockaddr as nftables matches its packets: an IPv4-mapped IPv6 address travels as IPv4. */
function endpoint(sockaddr: Uint8Array): { family: "ip" | "ip6"; address: string; port: number } {
  const b = Buffer.from(sockaddr);
  const port = b.readUInt16BE(2);
  if (b.readUInt16LE(0) === SOCKET.AF_INET) return { family: "ip", address: [...b.subarray(4, 8)].join("."), port };
  const v6 = b.subarray(8, 24);
  if (v6.subarray(0, 10).every((x) => x === 0) && v6.readUInt16BE(10) === 0xffff) return { family: "ip", address: [...v6.subarray(12)].join("."), port };
  return { family: "ip6", address: Array.from({ length: 8 }, (_, i) => v6.readUInt16BE(i * 2).toString(16)).join(":"), port };
}

function describe(c: Endpoints): string {
  const l = endpoint(c.local);
  const p = endpoint(c.peer);
  return `${l.address}:${l.port} -> ${p.address}:${p.port}`;
}

/** Runs nft with a script of commands on its standard input. */
function nftScript(script: string): string {
  return nft(["-f", "-"], script);
}

function nft(args: string[], input = ""): string {
  try {
    return execFileSync("nft", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new CrError("--tcp-established locks each connection with nftables while it is saved and restarted: install nftables (the nft command)", { code: "ENOENT" });
    throw new CrError(`nft ${args.join(" ")} failed: ${(e.stderr ?? String(error)).trim().split("\n")[0]}`, { code: "NFT", cause: error });
  }
}

import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  bindUnix,
  connectUnix,
  listenSocket,
  peekSocket,
  sendMessages,
  setSocketOptions,
  shutdownSocket,
  SOCKET,
  socketOptions,
  unixSocket,
  unixSocketPair,
  unixSockets,
  type UnixSocketDiag,
} from "./index.js";

const { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, TCP_ESTABLISHED, TCP_LISTEN, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUT_WR } = SOCKET;
const dir = mkdtempSync(join(tmpdir(), "cr-sockets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let open: number[] = [];
afterEach(() => {
  open.forEach((fd) => closeSync(fd));
  open = [];
});
const keep = <T extends number | number[]>(fds: T): T => {
  open.push(...([fds].flat() as number[]));
  return fds;
};
const inode = (fd: number) => fstatSync(fd, { bigint: true }).ino;
const diagOf = (fd: number): UnixSocketDiag => unixSockets().find((d) => d.inode === inode(fd))!;
const texts = (fd: number, type: number, eof = false) => peekSocket(fd, type, eof).map((m) => m.data.toString());

describe("peekSocket", () => {
  it("reads a stream's bytes without consuming them, and puts the program's SO_PEEK_OFF back", () => {
    const [a, b] = keep(unixSocketPair(SOCK_STREAM));
    sendMessages(b, [Buffer.from("hello "), Buffer.from("world")]);
    setSocketOptions(a, { ...socketOptions(a), peekOffset: 3 });
    expect(texts(a, SOCK_STREAM)).toEqual(["hello world"]);
    expect(texts(a, SOCK_STREAM)).toEqual(["hello world"]);
    expect(socketOptions(a).peekOffset).toBe(3);
  });

  it("reads past the writer boundaries SO_PASSCRED keeps", () => {
    const [a, b] = keep(unixSocketPair(SOCK_STREAM));
    setSocketOptions(a, { ...socketOptions(a), passcred: true });
    sendMessages(b, [Buffer.from("one")]);
    spawnSync("sh", ["-c", "printf two >&3"], { stdio: ["ignore", "ignore", "ignore", b] }); // another process: another writer
    expect(texts(a, SOCK_STREAM).join("")).toBe("onetwo");
  });

  it("keeps each datagram whole and says who sent it", () => {
    const [a, b] = keep(unixSocketPair(SOCK_DGRAM));
    sendMessages(b, [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("last")]);
    const messages = peekSocket(a, SOCK_DGRAM, false);
    expect(messages.map((m) => m.data.length)).toEqual([1, 0, 70_000, 4]);
    expect(messages.every((m) => m.from.length === 0)).toBe(true);
    const named = keep(unixSocket(SOCK_DGRAM));
    bindUnix(named, Buffer.from(`\0cr-sockets-test-${process.pid}`));
    const target = keep(unixSocket(SOCK_DGRAM));
    bindUnix(target, Buffer.from(join(dir, "dgram.sock")));
    sendMessages(named, [Buffer.from("x")], Buffer.from(join(dir, "dgram.sock")));
    expect(peekSocket(target, SOCK_DGRAM, false).map((m) => m.from.toString("latin1"))).toEqual([`\0cr-sockets-test-${process.pid}`]);
    expect(texts(target, SOCK_DGRAM)).toEqual(["x"]);
  });

  it("tells a seqpacket's 0-byte message from the end a shut down peer leaves", () => {
    const [a, b] = keep(unixSocketPair(SOCK_SEQPACKET));
    sendMessages(b, [Buffer.from("one"), Buffer.alloc(0), Buffer.from("three")]);
    shutdownSocket(b, SHUT_WR);
    expect(texts(a, SOCK_SEQPACKET, true)).toEqual(["one", "", "three"]);
    // The kernel marks a 0-byte message peeked, and a walk at an offset skips it after that.
    expect(texts(a, SOCK_SEQPACKET, true)).toEqual(["one", "three"]);
  });
});

describe("unixSockets", () => {
  it("gives peers, queued bytes and shutdown state", () => {
    const [a, b] = keep(unixSocketPair(SOCK_STREAM));
    sendMessages(b, [Buffer.from("12345")]);
    shutdownSocket(a, SHUT_WR);
    expect(diagOf(a)).toMatchObject({ type: SOCK_STREAM, state: TCP_ESTABLISHED, peer: inode(b), rqueue: 5, shutdown: SEND_SHUTDOWN });
    expect(diagOf(b)).toMatchObject({ peer: inode(a), shutdown: RCV_SHUTDOWN });
  });

  it("gives a listening socket's name, file, backlog and waiting connections in order; theirs have no peer yet", () => {
    const path = join(dir, "listen.sock");
    const listener = keep(unixSocket(SOCK_STREAM));
    bindUnix(listener, Buffer.from(path));
    listenSocket(listener, 7);
    const clients = keep([unixSocket(SOCK_STREAM), unixSocket(SOCK_STREAM)]);
    for (const c of clients) connectUnix(c, Buffer.from(path));
    const d = diagOf(listener);
    expect(d).toMatchObject({ state: TCP_LISTEN, wqueue: 7, rqueue: 2, pending: clients.map(inode) });
    expect(d.name.toString()).toBe(path);
    expect(d.file?.ino).toBe(statSync(path, { bigint: true }).ino);
    expect(diagOf(clients[0]!)).toMatchObject({ state: TCP_ESTABLISHED, peer: 0n, wqueue: 0 });
  });
});

describe("setSocketOptions", () => {
  it("sets what differs, buffer sizes past the sysctl limits", () => {
    const fd = keep(unixSocket(SOCK_STREAM));
    const wanted = { ...socketOptions(fd), passcred: true, passrights: false, sndbuf: 8 << 20, rcvbuf: 4 << 20, rcvlowat: 3, peekOffset: 0, rcvtimeoUs: 1_000_000, sndtimeoUs: 2_000_000 };
    setSocketOptions(fd, wanted);
    expect(socketOptions(fd)).toEqual(wanted);
  });
});

import { existsSync, fstatSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SocketOption, SocketState, type FdRecord, type UnixSocketRecord } from "@cr/format";
import { peekSocket, SOCKET, socketOptions, unixSockets, type UnixSocketDiag } from "@cr/native";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { checkProcess } from "../check.js";
import { CrError } from "../errors.js";
import { fdRecord } from "../store/image-records.js";
import { collectFiles, throughCopy, type FdEntry } from "./files.js";
import { checkSockets, collectUnixSockets, socketsByInode, TreeSockets, unixSocketProblems, type CollectedSockets } from "./unix-sockets.js";

const { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, TCP_LISTEN, RCV_SHUTDOWN, SEND_SHUTDOWN } = SOCKET;

let bin: string;
let dir: string;
beforeAll(() => {
  bin = program("socket_target");
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-sockets-")));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

interface TreeReady {
  child: number;
  stream: [number, number];
  dgram: [number, number];
  seq: [number, number];
  listener: number;
  clients: [number, number];
  closed: number;
  abstract: number;
  abstractName: string;
  path: string;
}

/** The target of `socket_target tree` and its child: every fd of both, and the socket records of the tree. */
class SocketTree {
  private constructor(
    readonly target: Target,
    readonly ready: TreeReady,
    readonly parentFiles: FdEntry[],
    readonly childFiles: FdEntry[],
  ) {}

  static async start(): Promise<SocketTree> {
    const target = await startTarget(bin, ["tree", dir]);
    const ready = target.ready as unknown as TreeReady;
    return new SocketTree(target, ready, collectFiles(target.pid), collectFiles(ready.child));
  }

  collect(handedOver = new Set<number>()): CollectedSockets {
    return collectUnixSockets(this.members(), handedOver);
  }

  members() {
    return [
      { pid: this.target.pid, files: this.parentFiles },
      { pid: this.ready.child, files: this.childFiles },
    ];
  }

  /** The inode of the socket fd `fd` of the parent (or, `child`, of the child). */
  inode(fd: number, child = false): bigint {
    return (child ? this.childFiles : this.parentFiles).find((f) => f.fd === fd)!.ino;
  }

  async stop(): Promise<void> {
    process.kill(this.ready.child, "SIGKILL");
    await this.target.stop();
    while (unixSockets().some((d) => d.name.toString() === this.ready.path)) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const texts = (queue: Uint8Array[]) => queue.map((m) => Buffer.from(m).toString());

describe("the checkpoint half, on a tree with bytes in flight in every kind of socket", () => {
  let tree: SocketTree;
  let got: CollectedSockets;
  let byInode: Map<bigint, UnixSocketRecord>;
  const record = (fd: number, child = false) => byInode.get(tree.inode(fd, child))!;
  beforeAll(async () => {
    tree = await SocketTree.start();
    got = tree.collect();
    byInode = new Map([...got.records.values()].flat().map((r) => [r.inode, r]));
  });
  afterAll(() => tree.stop());

  it("saves each socket once, in the section of the first process holding it, and finds no problem", () => {
    expect(got.problems).toEqual([]);
    const all = [...got.records.values()].flat();
    expect(all).toHaveLength(new Set(all.map((r) => r.inode)).size);
    const { stream, dgram, seq, listener } = tree.ready;
    expect(got.records.get(tree.target.pid)!.map((r) => r.inode)).toContain(tree.inode(listener)); // the child holds it too
    expect(got.records.get(tree.ready.child)!.map((r) => r.inode).sort()).toEqual([tree.inode(stream[1], true), tree.inode(dgram[1], true), tree.inode(seq[1], true)].sort());
  });

  it("a stream pair: each end's peer, queue, shutdown state and options", () => {
    const [parent, child] = tree.ready.stream;
    expect(record(parent)).toMatchObject({ type: SOCK_STREAM, state: SocketState.CONNECTED, peer: tree.inode(child, true), shutdown: SEND_SHUTDOWN, options: SocketOption.PASSCRED, rcvbuf: 2 << 20 });
    expect(texts(record(parent).queue)).toEqual(["to-parent"]);
    expect(record(child, true)).toMatchObject({ peer: tree.inode(parent), shutdown: RCV_SHUTDOWN, options: 0 });
    expect(texts(record(child, true).queue)).toEqual(["to-child"]);
  });

  it("a datagram pair and a seqpacket pair keep their messages apart, 0-byte ones too", () => {
    const { dgram, seq } = tree.ready;
    expect(record(dgram[1], true).queue.map((m) => m.length)).toEqual([1, 0, 3000]);
    expect(record(dgram[0])).toMatchObject({ type: SOCK_DGRAM, rcvtimeoUs: 2_000_000n });
    expect(texts(record(dgram[0]).queue)).toEqual(["back"]);
    expect(record(seq[1], true)).toMatchObject({ type: SOCK_SEQPACKET, state: SocketState.CONNECTED, shutdown: RCV_SHUTDOWN });
    expect(texts(record(seq[1], true).queue)).toEqual(["s1", "s2"]);
  });

  it("a listening socket with its name, backlog and connections waiting in order; theirs connecting to it", () => {
    const { listener, clients, path } = tree.ready;
    expect(record(listener)).toMatchObject({ state: SocketState.LISTENING, nameFile: 1, backlog: 5, pending: clients.map((c) => tree.inode(c)), queue: [] });
    expect(Buffer.from(record(listener).name).toString()).toBe(path);
    for (const c of clients) expect(record(c)).toMatchObject({ state: SocketState.CONNECTING, peer: tree.inode(listener) });
  });

  it("a stream whose peer was closed, and an unconnected datagram socket with an abstract name", () => {
    expect(record(tree.ready.closed)).toMatchObject({ state: SocketState.PEER_CLOSED, shutdown: RCV_SHUTDOWN | SEND_SHUTDOWN });
    expect(texts(record(tree.ready.closed).queue)).toEqual(["last words"]);
    const abstract = record(tree.ready.abstract);
    expect(abstract).toMatchObject({ state: SocketState.UNCONNECTED, nameFile: 0 });
    expect(Buffer.from(abstract.name).toString("latin1")).toBe(`\0${tree.ready.abstractName.slice(1)}`);
    expect(texts(abstract.queue)).toEqual(["anon"]);
  });

  it("warns that credentials of bytes queued with SO_PASSCRED come back as cr's", () => {
    expect(got.warnings).toEqual([expect.stringMatching(new RegExp(`^fd ${tree.ready.stream[0]} of process ${tree.target.pid} .*SO_PASSCRED.*1 queued message`))]);
  });

  it("consumed nothing, and left the program's SO_PEEK_OFF as it was", async () => {
    const { stream, dgram, closed, abstract } = tree.ready;
    expect(throughCopy(tree.target.pid, stream[0], socketOptions)!.peekOffset).toBe(-1);
    const drained = JSON.parse(await tree.target.ask(`drain ${stream[0]} ${dgram[0]} ${closed} ${abstract}`)) as Record<string, string[]>;
    const hex = (s: string) => Buffer.from(s).toString("hex");
    expect(drained).toEqual({ [stream[0]]: [hex("to-parent")], [dgram[0]]: [hex("back")], [closed]: [hex("last words")], [abstract]: [hex("anon")] });
  });
});

describe("the restart half", () => {
  let tree: SocketTree;
  let records: Map<bigint, UnixSocketRecord>;
  let made: TreeSockets | undefined;
  const fdOf = (fd: number, child = false) => made!.fdOf(tree.inode(fd, child))!;
  const diagOf = (fd: number): UnixSocketDiag => unixSockets().find((d) => d.inode === fstatSync(fd, { bigint: true }).ino)!;
  const inodeOf = (fd: number) => fstatSync(fd, { bigint: true }).ino;
  const socketFds = (): { pid: number; fd: FdRecord }[] => tree.members().flatMap(({ pid, files }) => files.filter((f) => f.kind === "unix-socket").map((f) => ({ pid, fd: fdRecord(f) })));

  beforeAll(async () => {
    tree = await SocketTree.start();
    records = socketsByInode([...tree.collect().records.values()].flat()) as Map<bigint, UnixSocketRecord>;
  });
  afterEach(() => made?.close());
  afterAll(() => tree.stop());

  it("refuses a name bound by a running socket (the checkpointed process itself, still running)", () => {
    expect(() => checkSockets(records, socketFds(), new Map(), 7n)).toThrow(/^\/tmp\/.*listen\.sock, the name of a UNIX socket \(fd \d+ of process \d+\) of checkpoint 7, is bound by another socket now/);
  });

  it("makes every socket again once the process is gone: queues, names, waiting connections, options, shutdown states", async () => {
    await tree.stop();
    checkSockets(records, socketFds(), new Map(), 7n);
    made = new TreeSockets(records);
    expect(made.warnings).toEqual([`removed the stale socket file ${tree.ready.path} (no socket was bound to it any more) to bind the restarted socket there`]);
    const { stream, dgram, seq, listener, clients, closed, abstract } = tree.ready;
    const peek = (fd: number, type: number, eof = false) => peekSocket(fd, type, eof).map((m) => m.data.toString());
    expect(diagOf(fdOf(stream[0]))).toMatchObject({ peer: inodeOf(fdOf(stream[1], true)), shutdown: SEND_SHUTDOWN });
    expect(peek(fdOf(stream[0]), SOCK_STREAM)).toEqual(["to-parent"]);
    expect(peek(fdOf(stream[1], true), SOCK_STREAM, true)).toEqual(["to-child"]);
    expect(socketOptions(fdOf(stream[0]))).toMatchObject({ passcred: true, rcvbuf: 2 << 20 });
    expect(peekSocket(fdOf(dgram[1], true), SOCK_DGRAM, false).map((m) => m.data.length)).toEqual([1, 0, 3000]);
    expect(socketOptions(fdOf(dgram[0])).rcvtimeoUs).toBe(2_000_000);
    expect(peek(fdOf(seq[1], true), SOCK_SEQPACKET, true)).toEqual(["s1", "s2"]);
    const l = diagOf(fdOf(listener));
    expect(l).toMatchObject({ state: TCP_LISTEN, wqueue: 5, pending: clients.map((c) => inodeOf(fdOf(c))) });
    expect(l.name.toString()).toBe(tree.ready.path);
    expect(diagOf(fdOf(closed))).toMatchObject({ peer: 0n, shutdown: RCV_SHUTDOWN | SEND_SHUTDOWN });
    expect(peek(fdOf(closed), SOCK_STREAM)).toEqual(["last words"]);
    expect(diagOf(fdOf(abstract)).name.toString("latin1")).toBe(`\0${tree.ready.abstractName.slice(1)}`);
    expect(peek(fdOf(abstract), SOCK_DGRAM)).toEqual(["anon"]);
    made.unbind();
    expect(existsSync(tree.ready.path)).toBe(false);
  });

  it("needs every descriptor on a socket connected outside the tree handed over", () => {
    const outside: UnixSocketRecord = { ...records.values().next().value!, state: SocketState.OUTSIDE, inode: 1n };
    const fd = { pid: 42, fd: { ...fdRecord(tree.parentFiles.find((f) => f.kind === "unix-socket")!), fd: 9, inode: 1n } };
    const refusal = (() => {
      try {
        checkSockets(new Map([[1n, outside]]), [fd], new Map(), 7n);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(CrError);
    expect(refusal).toMatchObject({ code: "INHERIT_NEEDED", pid: 42, fd: 9, message: "fd 9 of process 42 was a UNIX socket connected outside the tree: restart with --inherit-fd 9:PATH to give it a file instead" });
    checkSockets(new Map([[1n, outside]]), [fd], new Map([[9, "/dev/null"]]), 7n);
  });
});

describe("what cannot be saved, named by cr check", () => {
  let server: Server;
  let accepted: Socket[] = [];
  let target: Target;
  let ready: { outside: number; inflight: number; relative: number; eagerListener: number; eager: number };
  beforeAll(async () => {
    const path = join(dir, "outside.sock");
    let acceptedOutside!: () => void;
    const outsideAccepted = new Promise<void>((resolve) => (acceptedOutside = resolve));
    server = createServer((s) => {
      accepted.push(s);
      acceptedOutside();
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    target = await startTarget(bin, ["problems", dir, path]);
    ready = target.ready as typeof ready;
    // Until this process accepts it, the target's socket waits in the listener's queue rather than being connected.
    await outsideAccepted;
  });
  afterAll(async () => {
    await target.stop();
    accepted.forEach((s) => s.destroy());
    accepted = [];
    await new Promise((resolve) => server.close(resolve));
  });

  it("a peer outside the tree (named with its process), descriptors in flight, a relative name, a connection that spoke before it was accepted", async () => {
    const problems = (await checkProcess(target.pid)).problems;
    const reason = (fd: number) => problems.find((p) => p.resource === `fd ${fd}`);
    expect(reason(ready.outside)).toMatchObject({ kind: "unix-socket", reason: expect.stringMatching(new RegExp(`connected to socket .*\\(inode \\d+, of process ${process.pid} \\(.*\\)\\), outside the tree: .*cr snapshot --inherit-fd ${ready.outside}, then cr restart --inherit-fd ${ready.outside}:PATH`)) });
    expect(reason(ready.inflight)?.reason).toContain("1 descriptor(s) sent over it (SCM_RIGHTS) wait to be received");
    expect(reason(ready.relative)?.reason).toContain("bound to the relative path rel.sock");
    expect(reason(ready.eager)?.reason).toContain("waits to be accepted and has sent bytes already");
    expect(problems.filter((p) => p.kind === "unix-socket")).toHaveLength(4);
  });

  it("a socket to outside the tree handed over is no problem, and is saved as such", () => {
    const files = collectFiles(target.pid);
    const handedOver = new Set([ready.outside]);
    expect(unixSocketProblems([{ pid: target.pid, files }], handedOver).map((p) => p.resource)).not.toContain(`fd ${ready.outside}`);
    const got = collectUnixSockets([{ pid: target.pid, files }], handedOver);
    const inode = files.find((f) => f.fd === ready.outside)!.ino;
    expect(got.records.get(target.pid)!.find((r) => r.inode === inode)).toMatchObject({ state: SocketState.OUTSIDE, queue: [] });
  });
});

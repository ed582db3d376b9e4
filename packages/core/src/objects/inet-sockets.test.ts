import { afterEach, describe, expect, it } from "vitest";
import { InetSocketState } from "@cr/format";
import { inetSocketOptions, inetSocketState, SOCKET } from "@cr/native";
import { collectFiles } from "./files.js";
import { collectInetSockets, formatAddress, TreeInetSockets } from "./inet-sockets.js";
import { killHolders, pythonHolder } from "./python.test-util.js";

afterEach(killHolders);

/** python3 holding the sockets `setup` makes; resolves with the fds it names once they are made. */
const holder = (setup: string) => pythonHolder(`import socket\n${setup}`);

const value = (options: { level: number; option: number; value: bigint | number }[], level: number, option: number) => options.find((o) => o.level === level && o.option === option)?.value;

describe("network sockets", () => {
  it("are saved with their address, peer, backlog and options, and made again so in cr", async () => {
    const { child, fds } = await holder(
      [
        "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)",
        "l.bind(('127.0.0.1', 0)); l.listen(5)",
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0)); u.connect(('127.0.0.1', 9))",
        "v = socket.socket(socket.AF_INET6); v.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)",
        "fds = {'l': l.fileno(), 'u': u.fileno(), 'v': v.fileno()}",
      ].join("\n"),
    );
    const pid = child.pid!;
    const collected = collectInetSockets([{ pid, files: collectFiles(pid) }], new Set(), { tcpClose: false, tcpEstablished: false });
    expect(collected.problems).toEqual([]);
    const records = collected.records.get(pid)!;
    const byFd = (fd: number) => records.find((r) => r.inode === collectFiles(pid).find((f) => f.fd === fd)!.ino)!;
    const [l, u, v] = [byFd(fds.l!), byFd(fds.u!), byFd(fds.v!)];
    expect(l).toMatchObject({ family: SOCKET.AF_INET, protocol: SOCKET.IPPROTO_TCP, state: InetSocketState.LISTENING, backlog: 5 });
    expect(formatAddress(l.local)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(value(l.options, SOCKET.SOL_SOCKET, SOCKET.SO_REUSEADDR)).toBe(1n);
    expect(value(l.options, SOCKET.IPPROTO_TCP, 1 /* TCP_NODELAY */)).toBe(1n);
    expect(u).toMatchObject({ protocol: SOCKET.IPPROTO_UDP, state: InetSocketState.CONNECTED });
    expect(formatAddress(u.peer)).toBe("127.0.0.1:9");
    expect(v).toMatchObject({ family: SOCKET.AF_INET6, state: InetSocketState.UNCONNECTED });
    expect(formatAddress(v.local)).toBe("[::]:0");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const made = new TreeInetSockets(records, []);
    try {
      for (const r of records) {
        const fd = made.fdOf(r.inode)!;
        const k = inetSocketState(fd);
        expect({ family: k.family, type: k.type, protocol: k.protocol, local: formatAddress(k.local), peer: formatAddress(k.peer), backlog: k.backlog }).toEqual({
          family: r.family,
          type: r.type,
          protocol: r.protocol,
          local: formatAddress(r.local),
          peer: formatAddress(r.peer),
          backlog: r.backlog,
        });
        expect(inetSocketOptions(fd, k.family, k.protocol).map((o) => ({ ...o, value: BigInt(o.value) }))).toEqual(r.options);
      }
    } finally {
      made.close();
    }
  });

  it("a connection waiting to be accepted is refused, or with --tcp-close dropped with a warning", async () => {
    const { child, fds } = await holder(["l = socket.create_server(('127.0.0.1', 0))", "c = socket.create_connection(l.getsockname())", "fds = {'l': l.fileno(), 'c': c.fileno()}"].join("\n"));
    const pid = child.pid!;
    const files = collectFiles(pid);
    const refused = collectInetSockets([{ pid, files }], new Set([fds.c!]), { tcpClose: false, tcpEstablished: false });
    expect(refused.problems).toEqual([{ pid, resource: `fd ${fds.l}`, kind: "tcp-connection", reason: expect.stringMatching(/\(listening\): 1 connection waits to be accepted: cr cannot restore connections not accepted yet; let the program accept them, or snapshot with --tcp-close/) }]);
    const closed = collectInetSockets([{ pid, files }], new Set(), { tcpClose: true, tcpEstablished: false });
    expect(closed.problems).toEqual([]);
    expect(closed.warnings).toEqual([expect.stringMatching(/1 connection waits to be accepted: dropped \(--tcp-close\)/), expect.stringMatching(/\(established\): closed at restart \(--tcp-close\)/)]);
    expect(closed.records.get(pid)!.map((r) => r.state).sort()).toEqual([InetSocketState.LISTENING, InetSocketState.CLOSED]);
  });
});

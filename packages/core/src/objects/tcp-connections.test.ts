import { spawn, type ChildProcess } from "node:child_process";
import { closeSync } from "node:fs";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { InetSocketState } from "@cr/format";
import { inetSocket, SOCKET } from "@cr/native";
import { collectFiles } from "./files.js";
import { collectInetSockets } from "./inet-sockets.js";
import { ConnectionLocks, restoreConnection, silenceConnection, unlockConnections } from "./tcp-connections.js";

const running: ChildProcess[] = [];
afterEach(() => running.splice(0).forEach((c) => c.kill("SIGKILL")));

/** python3 running `script`, which prints one JSON line when ready and then serves commands on stdin. */
async function python(script: string): Promise<{ child: ChildProcess; ready: Record<string, number>; next(): Promise<string>; ask(line: string): Promise<string> }> {
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  running.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string;
  const ready = JSON.parse(await next()) as Record<string, number>;
  return { child, ready, next, ask: async (line) => (child.stdin!.write(`${line}\n`), next()) };
}

/**
 * One end of a connection, holding unread bytes its peer sent; it says "accepted" once its
 * listening socket is closed. "recv N" reads N bytes, "send X" sends X.
 */
const END = `import socket, json, sys
l = socket.create_server(("127.0.0.1", 0))
print(json.dumps({"port": l.getsockname()[1]}), flush=True)
c, _ = l.accept()
l.close()
print("accepted", flush=True)
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "send": c.sendall(arg.encode()); print("sent", flush=True)
    else: print(c.recv(int(arg)).decode(), flush=True)
`;
const PEER = (port: number) => END.replace(`l = socket.create_server(("127.0.0.1", 0))\nprint(json.dumps({"port": l.getsockname()[1]}), flush=True)\nc, _ = l.accept()\nl.close()\nprint("accepted", flush=True)`, `c = socket.create_connection(("127.0.0.1", ${port}))\nprint(json.dumps({}), flush=True)`);

describe("TCP connections", () => {
  it("are saved with their sequence numbers and unread bytes under a lock, and made again in cr: the peer's stream goes on", async () => {
    const end = await python(END);
    const peer = await python(PEER(end.ready.port!));
    expect(await end.next(), "the end's listening socket is closed: its fd table holds the connection alone").toBe("accepted");
    expect(await peer.ask("send before")).toBe("sent"); // unread at the checkpoint: in the receive queue
    const pid = end.child.pid!;
    const locks = new ConnectionLocks();
    const collected = collectInetSockets([{ pid, files: collectFiles(pid) }], new Set(), { tcpClose: false, tcpEstablished: true }, locks);
    const [record] = collected.records.get(pid)!;
    const [connection] = collected.connections.get(pid)!;
    expect(record!.state).toBe(InetSocketState.ESTABLISHED);
    expect(Buffer.from(connection!.inq).toString()).toBe("before");
    silenceConnection(pid, collectFiles(pid).find((f) => f.ino === record!.inode)!.fd);
    end.child.kill("SIGKILL");
    await new Promise((resolve) => end.child.once("exit", resolve));
    const fd = inetSocket(record!.family, record!.type, record!.protocol);
    try {
      restoreConnection(fd, record!, connection!);
      unlockConnections([record!]);
      expect(await peer.ask("send after")).toBe("sent");
      const { readSync, writeSync } = await import("node:fs");
      const got = Buffer.alloc(64);
      let read = "";
      while (read.length < "beforeafter".length) read += got.subarray(0, readSync(fd, got)).toString();
      expect(read).toBe("beforeafter");
      writeSync(fd, "back");
      expect(await peer.ask("recv 4")).toBe("back");
    } finally {
      closeSync(fd);
    }
    expect(SOCKET.TCP_ESTABLISHED).toBe(1);
  });
});

// Network servers come back where they were: listening on the same port, with the state they
// held in memory at the checkpoint (issue 20). Real programs: Node's http module (epoll, eventfds,
// threads, a listening TCP socket), python3 -m http.server, a TCP stream; and what cr refuses or warns about.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, Socket, type Server } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { expectOneLineError, runCli, spawnCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { killedAfterEach, python3Binary, restartDetached, waitFor, waitPidFree } from "./restart-helpers.js";

const started = killedAfterEach();
afterAll(() => cleanupTmp());

/** A server started with its output in `dir`; resolves once it printed its port. */
async function startServer(dir: string, command: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const log = join(dir, "server.log");
  const out = openSync(log, "w");
  const child = spawn(command, args, { cwd: dir, stdio: ["ignore", out, out] });
  closeSync(out);
  started.push(child.pid!);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
    const port = /port (\d+)/.exec(readFileSync(log, "utf8"))?.[1];
    if (port) return { child, port: Number(port) };
    if (child.exitCode !== null) break;
  }
  throw new Error(`${command} did not say its port: ${readFileSync(log, "utf8")}`);
}

/** GET on a new connection (closed after): the body. */
function get(port: number, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve(body));
    });
    req.on("error", reject).end();
  });
}


/** Accepts one connection, sums the numbers it reads, and answers with the count and the sum. */
const SUM_SERVER = `import socket
s = socket.create_server(("127.0.0.1", 0))
print("port", s.getsockname()[1], flush=True)
c, _ = s.accept()
print("accepted 1", flush=True)
total, count, buf = 0, 0, b""
while data := c.recv(65536):
    *lines, buf = (buf + data).split(b"\\n")
    total += sum(int(x) for x in lines)
    count += len(lines)
c.sendall(f"{count} {total}\\n".encode())
`;

/** Streams 1..N to the server over one connection, then prints what the server read. */
// Streams 1, 2, 3 ... until a file "stop" appears (however long the snapshot and restart take).
const STREAM_CLIENT = `import itertools, os, socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for n in itertools.count(1):
    c.sendall(f"{n}\\n".encode())
    if n % 200 == 0:
        time.sleep(0.01)
        if os.path.exists("stop"):
            break
c.shutdown(socket.SHUT_WR)
count, total = c.recv(100).decode().split()
print(f"sent {n}; the server read {count} numbers summing to {total}", flush=True)
`;

const NODE_SERVER = `let n = 0;
const server = require("http").createServer((req, res) => res.end(\`count \${++n}\\n\`));
server.listen(0, "127.0.0.1", () => console.log(\`port \${server.address().port}\`));
`;

/** The CRIDs `cr snapshot --json` prints, one object per image, as they come. */
function cridsOf(cli: ChildProcess): bigint[] {
  const crids: bigint[] = [];
  createInterface({ input: cli.stdout! }).on("line", (line) => {
    const crid = /^\s*"crid": "(\d+)"/.exec(line)?.[1];
    if (crid) crids.push(BigInt(crid));
  });
  return crids;
}

async function untilMore(crids: bigint[], count: number, cli: ChildProcess): Promise<bigint> {
  for (const deadline = Date.now() + 30_000; crids.length < count; await sleep(20)) {
    if (cli.exitCode !== null || Date.now() > deadline) throw new Error(`cr snapshot --interval stopped at ${crids.length} images (exit ${cli.exitCode})`);
  }
  return crids[count - 1]!;
}

describe("network servers", () => {
  it("a Node.js HTTP server, snapshotted every second, restarts at a middle CRID on its port with its counter as it was there", async () => {
    const dir = tmpDir("cr-node-server-");
    writeFileSync(join(dir, "server.js"), NODE_SERVER);
    const { child, port } = await startServer(dir, process.execPath, ["server.js"]);
    const store = join(dir, "store");
    // --tcp-close: a snapshot may catch a request's connection; it is dropped, the server is saved.
    const cli = spawnCli(["snapshot", String(child.pid), "--store", store, "--interval", "1s", "--tcp-close", "--json"]);
    let stderr = "";
    cli.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const crids = cridsOf(cli);
    const counted: { crid: bigint; count: number }[] = [];
    for (let k = 1; k <= 3; k++) {
      expect(await get(port)).toBe(`count ${k}\n`);
      // The second image after the response was taken after it: the counter there is k.
      counted.push({ crid: await untilMore(crids, crids.length + 2, cli), count: k });
    }
    cli.kill("SIGINT");
    await new Promise((resolve) => cli.once("exit", resolve));
    expect(stderr).toMatch(/interrupted: \d+ snapshot\(s\) taken/);
    expect(crids[0]! < counted[1]!.crid, "the middle CRID is an increment").toBe(true);
    child.kill("SIGKILL");
    await waitPidFree(child.pid!);
    const pid = await restartDetached(started, store, counted[1]!.crid);
    expect(pid).toBe(child.pid);
    expect(await get(port)).toBe(`count ${counted[1]!.count + 1}\n`);
    expect(await get(port)).toBe(`count ${counted[1]!.count + 2}\n`);
  });

  it("python3 -m http.server serves the same files on the same port after a restart", async () => {
    const dir = tmpDir("cr-http-server-");
    writeFileSync(join(dir, "hello.txt"), "hello from before the checkpoint\n");
    const { child, port } = await startServer(dir, python3Binary(), ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"]);
    expect(await get(port, "/hello.txt")).toBe("hello from before the checkpoint\n");
    const store = join(dir, "store");
    const taken = await runCli(["snapshot", "--store", store, "--kill", String(child.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    await waitPidFree(child.pid!);
    await restartDetached(started, store, BigInt(taken.stdout.trim()));
    expect(await get(port, "/hello.txt")).toBe("hello from before the checkpoint\n");
  });

  it("an open TCP connection is named by cr check and refused by a snapshot; --tcp-close saves it closed, and the restarted server finds it so", async () => {
    const dir = tmpDir("cr-tcp-close-");
    // Accepts one connection and waits on it; whatever the wait ends with, it says so and serves the next.
    writeFileSync(
      join(dir, "echo.py"),
      [
        "import socket",
        "s = socket.create_server(('127.0.0.1', 0))",
        "print('port', s.getsockname()[1], flush=True)",
        "while True:",
        "    c, _ = s.accept()",
        "    try:",
        "        data = c.recv(10)",
        "        print('read', data, flush=True)",
        "        c.sendall(b'echo ' + data)",
        "    except OSError as e:",
        "        print('error', e.errno, flush=True)",
        "    c.close()",
      ].join("\n"),
    );
    const { child, port } = await startServer(dir, python3Binary(), ["echo.py"]);
    const client = await connect(port);
    await waitFor(() => hasAccepted(child.pid!));
    const checked = await runCli(["check", String(child.pid)]);
    expect(checked.code).toBe(2);
    expect(checked.stdout).toMatch(/tcp-connection\s+TCP socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(established\): a TCP connection: snapshot with --kill --tcp-established to take it up again as it is, or with --tcp-close to drop it/);
    const store = join(dir, "store");
    expectOneLineError(await runCli(["snapshot", "--store", store, String(child.pid)]), /cannot be checkpointed: fd \d+: TCP socket .* \(established\): a TCP connection: snapshot with --kill --tcp-established/);
    expect((await runCli(["check", "--tcp-close", String(child.pid)])).code).toBe(0);
    const taken = await runCli(["snapshot", "--store", store, "--kill", "--tcp-close", String(child.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stderr).toMatch(/cr: warning: TCP socket .* \(established\): closed at restart \(--tcp-close\)/);
    client.destroy();
    await waitPidFree(child.pid!);
    await restartDetached(started, store, BigInt(taken.stdout.trim()));
    await waitFor(() => /error \d+/.test(readFileSync(join(dir, "server.log"), "utf8")));
    expect(readFileSync(join(dir, "server.log"), "utf8")).toMatch(/error 107\n/); // ENOTCONN: the connection is gone
    const next = await connect(port);
    next.write("again");
    expect(await new Promise((resolve) => next.once("data", (d) => resolve(d.toString())))).toBe("echo again");
    next.destroy();
  });

  it("an established TCP connection: a client streams numbers to a server snapshotted with --kill --tcp-established and restarted; the stream goes on without reconnecting, and the total is right", async () => {
    const dir = tmpDir("cr-tcp-established-");
    writeFileSync(join(dir, "sum.py"), SUM_SERVER);
    writeFileSync(join(dir, "stream.py"), STREAM_CLIENT);
    const { child, port } = await startServer(dir, python3Binary(), ["sum.py"]);
    const client = spawn(python3Binary(), ["stream.py", String(port)], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
    started.push(client.pid!);
    let said = "";
    client.stdout!.on("data", (d: Buffer) => (said += d.toString()));
    const clientEnded = new Promise((resolve) => client.once("exit", resolve));
    await waitFor(() => hasAccepted(child.pid!));
    await sleep(300); // the stream runs
    const store = join(dir, "store");
    expectOneLineError(await runCli(["snapshot", "--store", store, "--tcp-established", String(child.pid)]), /--tcp-established saves connections that only a process killed at its snapshot can take up again .*: add --kill/);
    expect((await runCli(["check", "--tcp-established", String(child.pid)])).code).toBe(0);
    const taken = await runCli(["snapshot", "--store", store, "--kill", "--tcp-established", String(child.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    await waitPidFree(child.pid!);
    await sleep(300); // the client, locked out, retransmits meanwhile
    await restartDetached(started, store, BigInt(taken.stdout.trim()));
    await sleep(300); // the stream goes on after the restart
    writeFileSync(join(dir, "stop"), "");
    await clientEnded;
    const sent = Number(/^sent (\d+);/.exec(said)?.[1]);
    expect(said).toBe(`sent ${sent}; the server read ${sent} numbers summing to ${(sent * (sent + 1)) / 2}\n`);
    expect(readFileSync(join(dir, "server.log"), "utf8")).toMatch(/^port \d+\naccepted 1\n/); // one connection, never made again
    expect(execFileSync("nft", ["list", "table", "inet", "cr_tcp_lock"], { encoding: "utf8" }), "the lock is lifted").not.toMatch(new RegExp(`:${port} `));
  });

  it("a port taken at restart fails it in one line, before any process exists; freed, the same image restarts", async () => {
    const dir = tmpDir("cr-port-taken-");
    writeFileSync(join(dir, "server.js"), NODE_SERVER);
    const { child, port } = await startServer(dir, process.execPath, ["server.js"]);
    const store = join(dir, "store");
    const taken = await runCli(["snapshot", "--store", store, "--kill", String(child.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    await waitPidFree(child.pid!);
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    const crid = BigInt(taken.stdout.trim());
    try {
      expectOneLineError(await runCli(["restart", "--store", store, "--at", String(crid), "--detach"]), new RegExp(`TCP socket 127\\.0\\.0\\.1:${port}: the address is in use now: another socket is bound there`));
      expect(existsSync(`/proc/${child.pid}`), "no process is left behind").toBe(false);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    await restartDetached(started, store, crid);
    expect(await get(port)).toBe("count 1\n");
  });

  it("a server without SO_REUSEADDR whose connections wait in TIME_WAIT: the restart says so and how long, in one line", async () => {
    const dir = tmpDir("cr-time-wait-");
    // socketserver.TCPServer does not set SO_REUSEADDR (http.server's HTTPServer does).
    writeFileSync(join(dir, "serve.py"), "import http.server, socketserver\nwith socketserver.TCPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler) as s:\n    print('port', s.server_address[1], flush=True)\n    s.serve_forever()\n");
    const { child, port } = await startServer(dir, python3Binary(), ["serve.py"]);
    await getUntilServerCloses(port, "/serve.py"); // the server closes first: its end waits in TIME_WAIT
    const store = join(dir, "store");
    const taken = await runCli(["snapshot", "--store", store, "--kill", String(child.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    await waitPidFree(child.pid!);
    const failed = await runCli(["restart", "--store", store, "--at", taken.stdout.trim(), "--detach"]);
    expectOneLineError(failed, new RegExp(`TCP socket 127\\.0\\.0\\.1:${port}: the address is in use now: connections that ended on its port wait in TIME_WAIT, and the program did not set SO_REUSEADDR: the kernel frees the port within 60 s`));
    expect(existsSync(`/proc/${child.pid}`), "no process is left behind").toBe(false);
  });
});

/** An HTTP/1.0 GET that closes only once the server has closed (its FIN came first: its end waits in TIME_WAIT). */
function getUntilServerCloses(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const socket = new Socket();
    socket.on("data", (d: Buffer) => (got += d.toString())).once("end", () => {
      socket.end();
      resolve(got);
    });
    socket.once("error", reject).connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
  });
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once("error", reject).connect(port, "127.0.0.1", () => resolve(socket));
  });
}

/** Whether the server holds a second socket: its accept returned. */
function hasAccepted(pid: number): boolean {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")).length >= 2;
}

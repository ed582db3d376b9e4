// Event-driven programs come back with what they held (issue 20): redis-server (epoll, listening
// sockets, threads) with its data set, and a Python asyncio program (epoll, timers, a
// subprocess on pipes) that ends as an uninterrupted run.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { killedAfterEach, killTree, python3Binary, reference, restartAndWait, restartDetached, snapshotChain, sooner, startWorkload, waitFor, waitPidFree } from "./restart-helpers.js";

const started = killedAfterEach();
afterAll(() => cleanupTmp());

describe("event-driven programs", () => {
  it("redis-server holding 1 million keys, restarted at an increment: DBSIZE and DEBUG DIGEST are the increment's", async () => {
    const dir = tmpDir("cr-redis-");
    const port = await freePort();
    const log = join(dir, "redis.log");
    const out = openSync(log, "w");
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--enable-debug-command", "yes", "--dir", dir], { cwd: dir, stdio: ["ignore", out, out] });
    closeSync(out);
    started.push(redis.pid!);
    const cli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();
    await waitFor(() => /Ready to accept connections/.test(readFileSync(log, "utf8")));
    expect(cli("DEBUG", "POPULATE", "1000000")).toBe("OK");
    const store = join(dir, "store");
    const full = await runCli(["snapshot", "--store", store, String(redis.pid)]);
    expect(full.code, full.stderr).toBe(0);
    cli("DEBUG", "POPULATE", "1000", "extra");
    cli("DEL", "key:17", "key:4242");
    const increment = await runCli(["snapshot", "--store", store, "--incremental", String(redis.pid)]);
    expect(increment.code, increment.stderr).toBe(0);
    const at = { size: cli("DBSIZE"), digest: cli("DEBUG", "DIGEST") };
    expect(at.size).toBe("1000998");
    cli("FLUSHALL");
    redis.kill("SIGKILL");
    await waitPidFree(redis.pid!);
    await restartDetached(started, store, BigInt(increment.stdout.trim()));
    expect({ size: cli("DBSIZE"), digest: cli("DEBUG", "DIGEST") }).toEqual(at);
    expect(cli("SET", "after", "restart")).toBe("OK");
  }, 120_000);

  it("a Python asyncio program with timers and a subprocess on pipes, restarted from the middle of a chain, ends as an uninterrupted run", async () => {
    const dir = tmpDir("cr-asyncio-");
    writeFileSync(join(dir, "aio.py"), ASYNCIO_SCRIPT);
    const w = { name: "asyncio", command: python3Binary(), args: [join(dir, "aio.py"), "100"] };
    const ref = await reference(w, dir);
    const store = join(dir, "store");
    const { run, crids } = await sooner(async (scale) => {
      const run = startWorkload(w, dir, "chain");
      await sleep(Math.min(300, ref.ms / 10) * scale);
      return { run, crids: await snapshotChain(run, store, 4, ref.ms * 0.5 * scale) };
    });
    await killTree(run.pid);
    await run.exited;
    const restarted = await restartAndWait(store, crids[2]!);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(readFileSync(run.out, "utf8")).toBe(ref.output.toString());
  }, 120_000);
});

/** Each step waits on a timer, sends a number to a child over a pipe and reads it back doubled; a second timer ticks all along. */
const ASYNCIO_SCRIPT = `import asyncio, sys
LIMIT = int(sys.argv[1])
CHILD = "import sys\\nfor line in sys.stdin:\\n    print(int(line) * 2, flush=True)\\n"
async def main():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    ticks = 0
    def tick():
        nonlocal ticks
        ticks += 1
        asyncio.get_running_loop().call_later(0.01, tick)
    tick()
    for n in range(1, LIMIT + 1):
        await asyncio.sleep(0.02)
        proc.stdin.write(f"{n}\\n".encode())
        await proc.stdin.drain()
        print(n, int(await proc.stdout.readline()), flush=True)
    proc.stdin.close()
    print("child exited with", await proc.wait(), "ticked", ticks > LIMIT, flush=True)
asyncio.run(main())
`;

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

// A chain of LZ4 images (`cr snapshot --lz4`, full then incremental) restarts to the memory of
// its last snapshot: python3 holding 28 MiB that compress well, some of it rewritten between the
// two snapshots, hashes its memory after the restart and finds what it had at the kill. The
// restart decodes the blocks with the reference LZ4 library (store-images.ts decodeLz4).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { killedAfterEach, waitPidFree } from "./restart-helpers.js";
import { snap } from "./store-helpers.js";

const started = killedAfterEach();
afterAll(() => cleanupTmp());

const MIB = 28;

/**
 * Fills MIB MiB with a repeated phrase and a byte in every seventh page, says "ready"; once
 * ../go1 exists rewrites 2000 scattered bytes and says "rewritten DIGEST"; once ../go2 exists
 * writes the digest of its memory to ../result and exits.
 */
const SCRIPT = `import hashlib, os, time
data = bytearray(b"cr-lz4-" * ((${MIB} << 20) // 7))
for i in range(0, len(data), 4096 * 7):
    data[i] = (i >> 12) & 0xff
print("ready", flush=True)
def wait(name):
    while not os.path.exists(os.path.join("..", name)):
        time.sleep(0.01)
wait("go1")
for k in range(2000):
    data[(k * 104729) % len(data)] = k & 0xff
print("rewritten", hashlib.sha256(data).hexdigest(), flush=True)
wait("go2")
with open(os.path.join("..", "result"), "w") as out:
    out.write(hashlib.sha256(data).hexdigest())
`;

async function waitFor(log: string, text: string, child: ChildProcess): Promise<string> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
    const line = readFileSync(log, "utf8").split("\n").find((l) => l.startsWith(text));
    if (line) return line;
    if (child.exitCode !== null) break;
  }
  throw new Error(`python3 did not say "${text}": ${readFileSync(log, "utf8")}`);
}

describe("LZ4 images", () => {
  it("a full and an incremental --lz4 image restart to the memory of the last one", async () => {
    const dir = tmpDir("cr-lz4-");
    const work = join(dir, "work");
    const store = join(dir, "store");
    const log = join(dir, "log");
    writeFileSync(log, "");
    const out = openSync(log, "a");
    mkdirSync(work);
    const child = spawn("python3", ["-c", SCRIPT], { cwd: work, stdio: ["ignore", out, out] });
    closeSync(out);
    started.push(child.pid!);
    await waitFor(log, "ready", child);

    const full = await snap(["--store", store, "--lz4", String(child.pid)]);
    writeFileSync(join(dir, "go1"), "");
    const digest = (await waitFor(log, "rewritten", child)).split(" ")[1];
    const increment = await snap(["--store", store, "--lz4", "--incremental", "--kill", String(child.pid)]);
    await waitPidFree(child.pid!);
    expect(increment.parent).toBe(full.crid);

    const sizes = JSON.parse((await runCli(["log", "--store", store, "--json"])).stdout) as { crid: string; bytes: number }[];
    expect(sizes.find((e) => e.crid === full.crid)!.bytes, "the full image is compressed").toBeLessThan((MIB << 20) * 0.4);

    writeFileSync(join(dir, "go2"), "");
    const restarted = await runCli(["restart", "--store", store, "--at", increment.crid, "--detach"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    started.push(Number(restarted.stdout.trim()));
    const result = join(dir, "result");
    const written = () => existsSync(result) && readFileSync(result, "utf8").length === digest!.length;
    for (const deadline = Date.now() + 30_000; !written() && Date.now() < deadline; ) await sleep(20);
    expect(readFileSync(result, "utf8"), "the memory at the kill").toBe(digest);
  });
});

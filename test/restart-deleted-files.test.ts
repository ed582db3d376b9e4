// Files a program deleted but still holds come back with their contents (issue 20, ghost files):
// python3's tempfile.TemporaryFile (an O_TMPFILE file) and mkstemp + unlink, read back after a
// restart; and a restart whose deleted file's directory is gone fails in one line, leaving nothing.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { expectOneLineError, runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { killedAfterEach, waitPidFree } from "./restart-helpers.js";

const started = killedAfterEach();
afterAll(() => cleanupTmp());

/**
 * Writes into a TemporaryFile (left at an offset) and an unlinked mkstemp file in DIR, says
 * "ready", then waits for DIR/../go and writes what it reads back from both to DIR/../result
 * (renamed into place, so that it appears whole).
 */
const SCRIPT = `import os, sys, tempfile, time
d = sys.argv[1]
unnamed = tempfile.TemporaryFile(dir=d)
unnamed.write(b"." * 100000 + b"kept in a TemporaryFile")
unnamed.flush()
unnamed.seek(100000)
fd, name = tempfile.mkstemp(dir=d)
os.write(fd, b"kept in an unlinked file")
os.unlink(name)
print("ready", flush=True)
go = os.path.join(d, "..", "go")
while not os.path.exists(go):
    time.sleep(0.02)
named = os.pread(fd, 100, 0).decode()
links = (os.fstat(unnamed.fileno()).st_nlink, os.fstat(fd).st_nlink)
result = os.path.join(d, "..", "result")
with open(result + ".part", "w") as out:
    out.write(f"{unnamed.read().decode()}|{named}|{links}")
os.rename(result + ".part", result)  # whole when it appears: the test reads it as soon as it exists
`;

/** The script started on a directory `temp` of `dir`; resolves once it is ready. */
async function startHolder(dir: string, temp: string): Promise<ChildProcess> {
  const log = join(dir, "log");
  const out = openSync(log, "w");
  const child = spawn("python3", ["-c", SCRIPT, temp], { cwd: dir, stdio: ["ignore", out, out] });
  closeSync(out);
  started.push(child.pid!);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
    if (readFileSync(log, "utf8").includes("ready")) return child;
    if (child.exitCode !== null) break;
  }
  throw new Error(`python3 did not get ready: ${readFileSync(log, "utf8")}`);
}

async function snapshotKilled(store: string, child: ChildProcess): Promise<string> {
  const taken = await runCli(["snapshot", "--store", store, "--kill", String(child.pid)]);
  expect(taken.code, taken.stderr).toBe(0);
  await waitPidFree(child.pid!);
  return taken.stdout.trim();
}

describe("deleted files a program holds", () => {
  it("python3's TemporaryFile and an unlinked mkstemp file are read back after the restart, still deleted", async () => {
    const dir = tmpDir("cr-ghosts-");
    const temp = join(dir, "temp");
    mkdirSync(temp);
    const child = await startHolder(dir, temp);
    expect((await runCli(["check", String(child.pid)])).code).toBe(0);
    const crid = await snapshotKilled(join(dir, "store"), child);
    const restarted = await runCli(["restart", "--store", join(dir, "store"), "--at", crid, "--detach"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    started.push(Number(restarted.stdout.trim()));
    expect(readdirSync(temp), "nothing left in the directory").toEqual([]);
    writeFileSync(join(dir, "go"), "");
    const result = join(dir, "result");
    for (const deadline = Date.now() + 10_000; !existsSync(result) && Date.now() < deadline; ) await sleep(20);
    expect(readFileSync(result, "utf8")).toBe("kept in a TemporaryFile|kept in an unlinked file|(0, 0)");
  });

  it("a restart whose deleted file's directory is gone fails in one line, and no process is left", async () => {
    const dir = tmpDir("cr-ghosts-gone-");
    const temp = join(dir, "temp");
    mkdirSync(temp);
    const child = await startHolder(dir, temp);
    const crid = await snapshotKilled(join(dir, "store"), child);
    rmSync(temp, { recursive: true });
    const r = await runCli(["restart", "--store", join(dir, "store"), "--at", crid]);
    expectOneLineError(r, new RegExp(`deleted file ${temp}/.* of checkpoint ${crid} cannot be made again: its directory ${temp} is gone; recreate it to restart`));
    expect(existsSync(`/proc/${child.pid}`), "no process restarted").toBe(false);
    expect(existsSync(temp)).toBe(false);
  });
});

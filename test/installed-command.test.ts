// The installed `cr` (scripts/setup.sh writes a launcher onto PATH) used as a user would: from a
// directory of their own, outside the repository, with relative paths.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliMain, repoRoot } from "./cli.js";
import { pidAlive, waitPidFree } from "./restart-helpers.js";

/** `cr` as PATH finds it; it must launch this checkout's build (run `make setup` otherwise). */
function installedCr(): string {
  const found = execFileSync("sh", ["-c", "command -v cr || true"]).toString().trim();
  if (found === "" || !readFileSync(found, "utf8").includes(`'${cliMain}'`)) {
    throw new Error(`cr on PATH (${found || "none"}) does not run ${cliMain}: run \`make setup\``);
  }
  return found;
}

/** Runs the installed `cr ARGS` in `cwd`, with no CR_STORE: the store is ./.cr there. */
function cr(cwd: string, ...args: string[]): Promise<string> {
  const env = { ...process.env };
  delete env.CR_STORE;
  return new Promise((resolve, reject) =>
    execFile(installedCr(), args, { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(`cr ${args.join(" ")}: ${stderr}`)) : resolve(stdout.trim()))),
  );
}

// Prints 0, 1, 2... one a line, every 20 ms: a restart must go on from where the image was.
const COUNTER = `#include <stdio.h>
#include <unistd.h>
int main(void) { setvbuf(stdout, NULL, _IONBF, 0); for (long i = 0;; i++) { printf("%ld\\n", i); usleep(20000); } }
`;

async function linesOf(path: string, atLeast: number): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const lines = readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
    if (lines.length >= atLeast) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${path} did not reach ${atLeast} lines`);
}

describe("the installed cr command", () => {
  const dir = mkdtempSync(join(tmpdir(), "cr-user-"));
  const pids: number[] = [];
  afterAll(() => {
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs from a directory outside the repository: run ./prog, snapshot, restart --at, log --graph, with the store in that directory", async () => {
    expect(realpathSync(dir).startsWith(realpathSync(repoRoot))).toBe(false);
    writeFileSync(join(dir, "counter.c"), COUNTER);
    execFileSync("gcc", ["-O1", "-o", "prog", "counter.c"], { cwd: dir });

    const pid = Number(await cr(dir, "run", "--", "./prog"));
    pids.push(pid);
    expect(existsSync(join(dir, ".cr", "cr-store.json"))).toBe(true);
    const output = join(dir, ".cr", "runs", `${pid}.stdout`);
    await linesOf(output, 5);

    const crid = await cr(dir, "snapshot", String(pid), "--kill");
    expect(crid).toMatch(/^[0-9]+$/);
    const saved = readFileSync(output, "utf8").split("\n").filter((l) => l !== "").length;
    await waitPidFree(pid);

    expect(Number(await cr(dir, "restart", "--at", crid, "--detach"))).toBe(pid);
    const lines = await linesOf(output, saved + 5);
    expect(lines.map(Number)).toEqual(lines.map((_, i) => i)); // cut back to the image's output, then on from there
    expect(await cr(dir, "log", "--graph")).toMatch(new RegExp(`^\\* ${crid} \\(main\\)`, "m"));
    process.kill(pid, "SIGKILL");
  });

  it("resolves a relative --store against the caller's directory", async () => {
    const pid = Number(await cr(dir, "run", "--store", "elsewhere", "--", "./prog"));
    pids.push(pid);
    await cr(dir, "snapshot", String(pid), "--store", "./elsewhere");
    expect(await cr(dir, "log", "--store", "elsewhere")).toContain(String(pid));
    expect(existsSync(join(dir, "elsewhere", "cr-store.json"))).toBe(true);
  });
});

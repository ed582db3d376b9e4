/**
 * Test support: compiles the C targets of this folder into a temporary directory (once per test
 * file) and runs them as real processes that print "pid N", then "ready {json}", and answer
 * "ping" with "pong".
 *
 * Node's spawn() gives a child socketpairs, not pipes, for stdio "pipe": a target started that
 * way holds three UNIX sockets. So a target runs inside `sh -c 'cat | PROGRAM 2>&1 | cat'`:
 * its stdin and stdout are real pipes, and its parent is that shell.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";

const programsDir = fileURLToPath(new URL(".", import.meta.url));
let binDir: string | undefined;

/** Path of the compiled program `name` (from `name.c` in this folder). */
export function program(name: string): string {
  binDir ??= mkdtempSync(join(tmpdir(), "cr-core-programs-"));
  const out = join(binDir, name);
  execFileSync("cc", ["-O2", "-Wall", "-Werror", "-o", out, join(programsDir, `${name}.c`)], { stdio: "inherit" });
  return out;
}

/** Removes the compiled programs (call from afterAll). */
export function cleanPrograms(): void {
  if (binDir !== undefined) rmSync(binDir, { recursive: true, force: true });
  binDir = undefined;
}

export interface Target {
  /** The program's pid (a grandchild of this process: the shell is its parent). */
  pid: number;
  /** The wrapping shell. */
  child: ChildProcess;
  /** The JSON the program printed after "ready ". */
  ready: Record<string, unknown>;
  /** Sends "ping" and waits for "pong": proof the process still runs and responds. */
  ping(): Promise<string>;
  /** Sends one line and waits for the program's answer line. */
  ask(line: string): Promise<string>;
  /** Closes stdin, SIGKILLs and waits for the exit. */
  stop(): Promise<void>;
}

export async function startTarget(path: string, args: string[], options: { cwd?: string } = {}): Promise<Target> {
  const child = spawn("sh", ["-c", 'cat | "$@" 2>&1 | cat', "sh", path, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    cwd: options.cwd,
  });
  const lines = createInterface({ input: child.stdout! });
  const next = nextLine(lines, child);
  const pidLine = await next();
  if (!pidLine.startsWith("pid ")) throw new Error(`${path} ${args.join(" ")} said "${pidLine}" instead of its pid`);
  const pid = Number(pidLine.slice("pid ".length));
  const first = await next();
  if (!first.startsWith("ready ")) throw new Error(`${path} ${args.join(" ")} said "${first}" instead of ready`);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ask = (line: string) => {
    child.stdin!.write(`${line}\n`);
    return next();
  };
  return {
    pid,
    child,
    ready: JSON.parse(first.slice("ready ".length)) as Record<string, unknown>,
    ping: () => ask("ping"),
    ask,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        killIfAlive(pid); // the cats see EOF / EPIPE, and the shell exits after them
        child.stdin!.end();
        await exited;
      }
      lines.close();
    },
  };
}

function nextLine(lines: Interface, child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  const failures: ((error: Error) => void)[] = [];
  lines.on("line", (line) => {
    const waiter = waiters.shift();
    failures.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  child.once("exit", (code, signal) => {
    for (const fail of failures.splice(0)) fail(new Error(`target exited (code ${code}, signal ${signal}) before answering`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(line);
      waiters.push(resolve);
      failures.push(reject);
    });
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error; // already gone: fine
  }
}

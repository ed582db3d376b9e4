// Start a fixture whose stdin and stdout are real pipes, so cr can checkpoint it.
//
// Node's stdio "pipe" is a UNIX socketpair, and cr refuses to checkpoint a process holding
// sockets. This wrapper needs nothing from the packages under test (the harness's startFixture
// gets real pipes from the native addon): the program runs as
//   sh -c 'cat | { sh -c "echo pid $$; exec PROGRAM ARGS" 2>STDERRFILE; echo $? >STATUSFILE; echo SENTINEL; } | cat'
// so its stdin/stdout are pipes to the two cats, its stderr a regular file, and its exit status
// is recorded by the shell that waits for it. The returned object is a harness Fixture (its pid
// is the program's, not the shell's) and is stopped by fixtures.stopAll().

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, fixtures, tmpDir, type ExitStatus, type Fixture, type StartOptions } from "./harness.js";

const SIGNALS: Record<number, NodeJS.Signals> = { 9: "SIGKILL", 15: "SIGTERM", 6: "SIGABRT", 11: "SIGSEGV", 7: "SIGBUS", 2: "SIGINT" };

class PipedFixture implements Fixture {
  pid = 0;
  readonly lines: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private queue: string[] = [];
  private waiters: { resolve(l: string): void; reject(e: Error): void }[] = [];
  private partial = "";
  private status: ExitStatus | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly errFile: string,
    private readonly statusFile: string,
  ) {
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => this.onStdout(chunk));
    child.stdin!.on("error", () => {});
    this.exited = new Promise((resolve) => {
      child.once("close", () => {
        this.status = this.readStatus();
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w.reject(this.exitError("waiting for a line"));
        resolve(this.status);
      });
    });
  }

  private readStatus(): ExitStatus {
    const text = existsSync(this.statusFile) ? readFileSync(this.statusFile, "utf8").trim() : "";
    const n = Number(text);
    if (text === "" || !Number.isFinite(n)) return { code: null, signal: null };
    if (n > 128) return { code: null, signal: SIGNALS[n - 128] ?? ("SIGKILL" as NodeJS.Signals) };
    return { code: n, signal: null };
  }

  stderr(): string {
    return existsSync(this.errFile) ? readFileSync(this.errFile, "utf8") : "";
  }

  exitStatus(): ExitStatus | null {
    return this.status;
  }

  command(line: string, timeoutMs = 5000): Promise<string> {
    if (this.status) return Promise.reject(this.exitError(`command '${line}'`));
    const reply = this.nextLine(timeoutMs, `command '${line}'`);
    this.child.stdin!.write(line + "\n");
    return reply;
  }

  nextLine(timeoutMs = 5000, what = "next line"): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.status) return Promise.reject(this.exitError(what));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fixture ${this.name} (pid ${this.pid}): ${what}: no reply within ${timeoutMs} ms${this.note()}`));
      }, timeoutMs);
      const waiter = {
        resolve: (l: string) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  async waitReady(timeoutMs = 5000): Promise<string[]> {
    const before: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.nextLine(Math.max(0, deadline - Date.now()), "waiting for 'ready'");
      if (line === "ready") return before;
      before.push(line);
    }
  }

  waitExit(timeoutMs = 5000): Promise<ExitStatus> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fixture ${this.name} (pid ${this.pid}): still running after ${timeoutMs} ms${this.note()}`)), timeoutMs);
      void this.exited.then((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.status) {
      try {
        if (this.pid) process.kill(this.pid, "SIGKILL");
      } catch {
        // already gone
      }
      this.child.stdin!.end();
    }
    await this.exited;
  }

  /** Resolves with the program's pid, from the "pid N" line the wrapper prints first. */
  async start(): Promise<void> {
    const first = await this.nextLine(10_000, "waiting for the pid line");
    const m = /^pid (\d+)$/.exec(first);
    if (!m) throw new Error(`fixture ${this.name}: expected 'pid N', got '${first}'${this.note()}`);
    this.pid = Number(m[1]);
  }

  private onStdout(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      if (line.startsWith(EXIT_SENTINEL)) {
        // The program exited; the first cat still waits on our stdin: close it so the pipeline ends.
        this.child.stdin!.end();
        continue;
      }
      this.lines.push(line);
      const w = this.waiters.shift();
      if (w) w.resolve(line);
      else this.queue.push(line);
    }
  }

  private exitError(what: string): Error {
    const s = this.status;
    const how = s?.signal ? `killed by ${s.signal}` : `exited with code ${s?.code}`;
    return new Error(`fixture ${this.name} (pid ${this.pid}): ${what}: the program ${how}${this.note()}`);
  }

  private note(): string {
    const e = this.stderr().trim();
    return e ? `; stderr: ${e.slice(-2000)}` : "";
  }
}

const EXIT_SENTINEL = "@@cr-test-exited ";
const SCRIPT = `cat | { sh -c 'echo "pid $$"; exec "$@"' inner "$@" 2>"$CR_T_ERR"; st=$?; echo $st >"$CR_T_STATUS"; echo "${EXIT_SENTINEL}$st"; } | cat`;

/** Like startFixture, but stdin/stdout are real pipes and stderr a file. */
export async function startPiped(name: string, args: string[] = [], opts: StartOptions = {}): Promise<Fixture> {
  const dir = tmpDir(`cr-piped-${name}-`);
  const errFile = join(dir, "stderr");
  const statusFile = join(dir, "status");
  const child = spawn("sh", ["-c", SCRIPT, "sh", fixture(name), ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, CR_T_ERR: errFile, CR_T_STATUS: statusFile },
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) => reject(new Error(`fixture ${name}: cannot start: ${e.message}`)));
  });
  const f = new PipedFixture(name, child, errFile, statusFile);
  fixtures.running.add(f);
  await f.start();
  return f;
}

// Drive the C fixture programs of test/fixtures from tests: start them with stdin/stdout pipes,
// send line commands, read line replies, and stop them all after each test. The pipes are real
// pipes: Node's own stdio "pipe" is a socketpair, and cr refuses to checkpoint sockets.
//
//   afterEach(async () => { await fixtures.stopAll(); cleanupTmp(); });
//   const t = await startFixture("tracker_target");
//   await t.waitReady();
//   const addr = await t.command("map 0 16");

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { spawnWithPipes } from "@cr/core";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture } from "./fixtures/build.js";

export { fixture };

export const DEFAULT_TIMEOUT_MS = 5_000;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Fixture {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every complete stdout line received so far, consumed or not. */
  readonly lines: readonly string[];
  /** Everything the program wrote to stderr so far. */
  stderr(): string;
  /** Write `line` + "\n" to stdin and resolve with the next unread stdout line. */
  command(line: string, timeoutMs?: number): Promise<string>;
  /** The next unread stdout line. */
  nextLine(timeoutMs?: number): Promise<string>;
  /** Consume stdout lines until one equals "ready"; resolves with the lines before it. */
  waitReady(timeoutMs?: number): Promise<string[]>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Wait for the exit, rejecting after `timeoutMs` with the program's stderr in the message. */
  waitExit(timeoutMs?: number): Promise<ExitStatus>;
  /** The exit status, or null while it runs. */
  exitStatus(): ExitStatus | null;
  /** SIGKILL (if still running) and wait for the exit. Idempotent. */
  stop(): Promise<void>;
}

interface Waiter {
  resolve(line: string): void;
  reject(err: Error): void;
}

class FixtureProcess implements Fixture {
  readonly pid: number;
  readonly lines: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private queue: string[] = [];
  private waiters: Waiter[] = [];
  private partial = "";
  private err = "";
  private status: ExitStatus | null = null;
  private spawnError: Error | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly stdio: { stdin: Socket; stdout: Socket; stderr: Socket },
  ) {
    if (child.pid === undefined) throw new Error(`fixture ${name}: spawn failed (no pid)`);
    this.pid = child.pid;
    stdio.stdout.setEncoding("utf8");
    stdio.stderr.setEncoding("utf8");
    stdio.stdout.on("data", (chunk: string) => this.onStdout(chunk));
    stdio.stderr.on("data", (chunk: string) => {
      this.err += chunk;
    });
    // Writes to a dead program's stdin fail with EPIPE: the exit is reported by the waiters.
    stdio.stdin.on("error", () => {});
    const stdoutDone = new Promise<void>((resolve) => stdio.stdout.once("close", () => resolve()));
    this.exited = new Promise((resolve) => {
      child.once("error", (e) => {
        this.spawnError = e;
      });
      // Exited, and its stdout read to the end.
      child.once("exit", (code, signal) => {
        void stdoutDone.then(() => {
          this.status = { code, signal };
          stdio.stdin.destroy();
          this.failWaiters();
          resolve(this.status);
        });
      });
    });
  }

  stderr(): string {
    return this.err;
  }

  exitStatus(): ExitStatus | null {
    return this.status;
  }

  command(line: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    if (this.status) return Promise.reject(this.exitError(`command '${line}'`));
    const reply = this.nextLine(timeoutMs, `command '${line}'`);
    this.stdio.stdin.write(line + "\n");
    return reply;
  }

  nextLine(timeoutMs = DEFAULT_TIMEOUT_MS, what = "next line"): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.status) return Promise.reject(this.exitError(what));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fixture ${this.name} (pid ${this.pid}): ${what}: no reply within ${timeoutMs} ms${this.stderrNote()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async waitReady(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const before: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.nextLine(Math.max(0, deadline - Date.now()), "waiting for 'ready'");
      if (line === "ready") return before;
      before.push(line);
    }
  }

  waitExit(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExitStatus> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fixture ${this.name} (pid ${this.pid}): still running after ${timeoutMs} ms${this.stderrNote()}`)),
        timeoutMs,
      );
      void this.exited.then((s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.status && !this.spawnError) this.child.kill("SIGKILL");
    if (this.spawnError) return;
    await this.exited;
  }

  private onStdout(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.lines.push(line);
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.queue.push(line);
    }
  }

  private failWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.exitError("waiting for a line"));
  }

  private exitError(what: string): Error {
    const s = this.status;
    const how = s?.signal ? `killed by ${s.signal}` : `exited with code ${s?.code}`;
    return new Error(`fixture ${this.name} (pid ${this.pid}): ${what}: the program ${how}${this.stderrNote()}`);
  }

  private stderrNote(): string {
    const e = this.err.trim();
    return e ? `; stderr: ${e.length > 2000 ? "..." + e.slice(-2000) : e}` : "";
  }
}

/** The fixtures started by startFixture and not yet stopped by stopAll. */
export const fixtures = {
  running: new Set<Fixture>(),
  /** SIGKILL every fixture started so far and wait for them. For afterEach. */
  async stopAll(): Promise<void> {
    const all = [...this.running];
    this.running.clear();
    await Promise.all(all.map((f) => f.stop()));
  },
};

export interface StartOptions {
  cwd?: string;
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string>;
}

/** Start the compiled fixture `name` with stdin/stdout/stderr pipes. */
export async function startFixture(name: string, args: string[] = [], opts: StartOptions = {}): Promise<Fixture> {
  const { child, ...stdio } = await spawnWithPipes(fixture(name), args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  const f = new FixtureProcess(name, child, stdio);
  fixtures.running.add(f);
  return f;
}

const tmpDirs: string[] = [];

/** A fresh empty directory under os.tmpdir(), removed by cleanupTmp(). */
export function tmpDir(prefix = "cr-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** Remove every directory made by tmpDir() so far. */
export function cleanupTmp(): void {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Test targets: small C programs from test-programs/, compiled once per test run, started
// as real processes whose stdout lines the tests wait on.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const programsDir = fileURLToPath(new URL("../../test-programs/", import.meta.url));
const binDir = mkdtempSync(join(tmpdir(), "cr-native-test-"));
afterAll(() => rmSync(binDir, { recursive: true, force: true }));
const built = new Map<string, string>();

export function program(name: string): string {
  let path = built.get(name);
  if (!path) {
    path = join(binDir, name);
    execFileSync("cc", ["-O1", "-Wall", "-pthread", "-o", path, join(programsDir, `${name}.c`)]);
    built.set(name, path);
  }
  return path;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Target {
  readonly lines: string[] = [];
  private partial = "";

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Waits for a line after index `from` that matches; returns its index. The timeout is a hang guard: a loaded machine is slow. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.lines.findIndex((line, i) => i >= from && pattern.test(line));
      if (at >= 0) return at;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`target exited (${this.proc.exitCode ?? this.proc.signalCode}) waiting for ${pattern}; output:\n${this.lines.join("\n")}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${this.lines.slice(-20).join("\n")}`);
      await sleep(5);
    }
  }

  /** Sends one command line and waits for its "ok" answer; returns that line. */
  async command(line: string): Promise<string> {
    const from = this.lines.length;
    this.proc.stdin!.write(line + "\n");
    return this.lines[await this.waitFor(/^ok/, from)]!;
  }

  failures(): string[] {
    return this.lines.filter((line) => line.startsWith("FAIL"));
  }

  /** The last "alive a b ..." line's numbers. */
  lastAlive(): number[] {
    const line = [...this.lines].reverse().find((l) => l.startsWith("alive"));
    return line ? line.split(" ").slice(1).map(Number) : [];
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }
}

const running = new Set<Target>();

export async function startTarget(name: string, args: string[] = [], ready = /^ready/): Promise<Target> {
  const proc = spawn(program(name), args, { stdio: ["pipe", "pipe", "inherit"] });
  const target = new Target(proc);
  running.add(target);
  await target.waitFor(ready);
  return target;
}

export function killTargets(): void {
  for (const t of running) t.kill();
  running.clear();
}

export function procStatus(pid: number, key: string): string {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return text.match(new RegExp(`^${key}:\\s*(.*)$`, "m"))?.[1] ?? "";
}

/** Waits until the target printed `count` more "alive" lines whose numbers all grew. */
export async function expectProgress(target: Target, count = 3): Promise<void> {
  const before = target.lastAlive();
  let from = target.lines.length;
  for (let i = 0; i < count; i++) from = (await target.waitFor(/^alive/, from)) + 1;
  const after = target.lastAlive();
  after.forEach((value, i) => {
    if (before.length && value <= before[i]! && value !== 0) throw new Error(`counter ${i} did not grow: ${before} -> ${after}`);
  });
}

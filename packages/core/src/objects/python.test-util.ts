/**
 * Test support: a python3 process holding the kernel objects a script makes, for the checkpoint
 * halves to read as they read any process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

const running: ChildProcess[] = [];

/**
 * python3 running `setup`, which sets `fds` (names -> numbers, or anything JSON); resolves with
 * them once printed, the process then waiting on its stdin. killHolders ends it.
 */
export async function pythonHolder(setup: string): Promise<{ child: ChildProcess; fds: Record<string, number> }> {
  const script = `import json, sys\n${setup}\nprint(json.dumps(fds), flush=True)\nsys.stdin.read()\n`;
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  running.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`python3 exited with ${code}`)));
  });
  return { child, fds: JSON.parse(line) as Record<string, number> };
}

/** Kills every holder started so far (afterEach). */
export function killHolders(): void {
  running.splice(0).forEach((c) => c.kill("SIGKILL"));
}

/** The pair python3 holds: sets `m`, `s` and `fds` (the master, the slave, and the slave's number). */
export const RAW_PAIR = [
  "import os, pty, tty, fcntl, termios, struct",
  "m, s = pty.openpty()",
  "tty.setraw(s)",
  "fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))",
  "fds = {'master': m, 'slave': s, 'index': int(os.ttyname(s).split('/')[-1])}",
].join("\n");

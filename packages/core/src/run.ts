import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CrError } from "./errors.js";
import { DIR_MODE, FILE_MODE, type Store } from "./store.js";

export interface RunResult {
  pid: number;
  stdout: string;
  stderr: string;
}

/**
 * `cr run`: starts a program detached in its own session, ready to be checkpointed: stdin from
 * /dev/null, stdout and stderr to files of the store (runs/PID.stdout, runs/PID.stderr).
 * Regular files, not Node's stdio pipes: those are socketpairs, which cr refuses.
 */
export async function runDetached(store: Store, command: string, args: string[]): Promise<RunResult> {
  const dir = join(store.dir, "runs");
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const tag = `.starting-${process.pid}-${Date.now()}`;
  const out = join(dir, `${tag}.stdout`);
  const err = join(dir, `${tag}.stderr`);
  const fds = [openSync("/dev/null", "r"), openSync(out, "w", FILE_MODE), openSync(err, "w", FILE_MODE)];
  try {
    const child = spawn(command, args, { detached: true, stdio: fds });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("spawn", () => resolve(child.pid!));
      child.once("error", (e) => reject(new CrError(`cannot start ${command}: ${e.message}`, { code: (e as { code?: string }).code ?? "ESPAWN", path: command })));
    });
    child.unref();
    const result = { pid, stdout: join(dir, `${pid}.stdout`), stderr: join(dir, `${pid}.stderr`) };
    renameSync(out, result.stdout);
    renameSync(err, result.stderr);
    return result;
  } catch (error) {
    rmSync(out, { force: true });
    rmSync(err, { force: true });
    throw error;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

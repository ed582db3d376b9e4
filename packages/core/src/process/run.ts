import { spawn } from "node:child_process";
import { closeSync, openSync, constants as fsc } from "node:fs";
import { join } from "node:path";
import { closeOnExecFrom } from "@cr/native";
import { CrError } from "../errors.js";
import type { Store } from "../store/store.js";

export interface RunResult {
  pid: number;
  stdout: string;
  stderr: string;
}

/**
 * `cr run`: starts a program detached in its own session, ready to be checkpointed: stdin from
 * /dev/null, stdout and stderr to files of the store (runs/PID.stdout, runs/PID.stderr), and no
 * other descriptor. Regular files, not Node's stdio pipes: those are socketpairs, which cr refuses.
 */
export async function runDetached(store: Store, command: string, args: string[]): Promise<RunResult> {
  const runs = store.root.dir("runs", true);
  const tag = `.starting-${process.pid}-${Date.now()}`;
  const out = `${tag}.stdout`;
  const err = `${tag}.stderr`;
  const fds: number[] = [];
  try {
    fds.push(openSync("/dev/null", "r"));
    for (const name of [out, err]) fds.push(runs.openFile(name, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL));
    closeOnExecFrom(3); // what cr inherited without close-on-exec (a shell's pipe) is not the program's
    const child = spawn(command, args, { detached: true, stdio: fds });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("spawn", () => resolve(child.pid!));
      child.once("error", (e) => reject(new CrError(`cannot start ${command}: ${e.message}`, { code: (e as { code?: string }).code ?? "ESPAWN", path: command })));
    });
    child.unref();
    runs.rename(out, `${pid}.stdout`);
    runs.rename(err, `${pid}.stderr`);
    return { pid, stdout: join(runs.path, `${pid}.stdout`), stderr: join(runs.path, `${pid}.stderr`) };
  } catch (error) {
    runs.remove(out);
    runs.remove(err);
    throw error;
  } finally {
    for (const fd of fds) closeSync(fd);
    runs.close();
  }
}

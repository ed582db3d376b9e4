import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync } from "node:fs";
import { Socket } from "node:net";
import { createPipe } from "@cr/native";

/** A child whose stdin, stdout and stderr are real pipes, and our ends of them. */
export interface PipedChild {
  child: ChildProcess;
  stdin: Socket;
  stdout: Socket;
  stderr: Socket;
}

/**
 * Starts a program with real pipes on stdio. Node's own stdio "pipe" gives the child
 * socketpairs, and a process holding sockets cannot be checkpointed.
 */
export async function spawnWithPipes(command: string, args: string[], options: Omit<SpawnOptions, "stdio"> = {}): Promise<PipedChild> {
  const [stdinRead, stdinWrite] = createPipe();
  const [stdoutRead, stdoutWrite] = createPipe();
  const [stderrRead, stderrWrite] = createPipe();
  const child = spawn(command, args, { ...options, stdio: [stdinRead, stdoutWrite, stderrWrite] });
  // The child has its own copies now; ours would keep the pipes open after it exits.
  for (const fd of [stdinRead, stdoutWrite, stderrWrite]) closeSync(fd);
  const piped = {
    child,
    stdin: new Socket({ fd: stdinWrite, readable: false, writable: true }),
    stdout: new Socket({ fd: stdoutRead, readable: true, writable: false }),
    stderr: new Socket({ fd: stderrRead, readable: true, writable: false }),
  };
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) => reject(new Error(`cannot start ${command}: ${e.message}`)));
  });
  return piped;
}

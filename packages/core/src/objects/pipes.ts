/**
 * Pipes and FIFOs: the bytes buffered in them, their capacity, and opening a FIFO without blocking.
 *
 * Checkpoint: the bytes of every pipe and FIFO the process has open are peeked through
 * /proc/PID/fd/N with tee(2), which duplicates them into a pipe of cr's own and leaves them in
 * place (the process, or whoever reads the FIFO, still finds them); a capacity other than a new
 * pipe's (F_SETPIPE_SZ) is read through cr's copy of the descriptor. Restart: each new pipe and
 * each FIFO gets its capacity, then its bytes, before the process runs. One that cannot have its
 * capacity again (above /proc/sys/fs/pipe-max-size: only CAP_SYS_RESOURCE may exceed it) is
 * named by `cr check` and fails a restart, rather than come back with another.
 *
 * A FIFO's O_RDONLY open blocks until a writer comes, O_WRONLY until a reader does: cr holds
 * each FIFO open read-write (which never blocks) while it opens the process's ends, so these
 * opens, with the saved flags, return at once.
 */
import { closeSync, openSync, readFileSync, constants as fsc } from "node:fs";
import { FileKind, type FdRecord, type PipeDataRecord, type PipeSizesRecord } from "@cr/format";
import { createPipe, fillPipe, NativeError, peekPipe, PIPE_DEFAULT_SIZE, pipeCapacity, setPipeCapacity } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError, errnoCode } from "../errors.js";
import { throughCopy, type FdEntry } from "./files.js";
import { procPath } from "../process/procfs.js";

export type PipeBytes = PipeDataRecord["pipes"];
export type PipeSizes = PipeSizesRecord["pipes"];

/** One fd of each pipe and FIFO of `files`. */
function eachPipe(files: FdEntry[]): FdEntry[] {
  const seen = new Set<bigint>();
  return files.filter((f) => (f.kind === "pipe" || f.kind === "fifo") && !seen.has(f.ino) && seen.add(f.ino));
}

/** Checkpoint half: the capacity of each pipe and FIFO of `files` that has not a new pipe's. */
export function collectPipeSizes(pid: number, files: FdEntry[]): PipeSizes {
  return eachPipe(files).flatMap((file) => {
    const size = throughCopy(pid, file.fd, pipeCapacity);
    return size === undefined || size === PIPE_DEFAULT_SIZE ? [] : [{ pipeId: file.ino, size }];
  });
}

/** `cr check`: pipes whose capacity cr could not give a new pipe (it tries, on a pipe of its own). */
export function pipeSizeProblems(pid: number, files: FdEntry[]): Problem[] {
  return collectPipeSizes(pid, files).flatMap(({ pipeId, size }) => {
    const [read, write] = createPipe();
    try {
      setPipeCapacity(write, size);
      return [];
    } catch (error) {
      const fd = files.find((f) => f.ino === pipeId)!;
      return [{ resource: `fd ${fd.fd}`, kind: "pipe-size", reason: `${fd.path ?? fd.target} has a capacity of ${size} bytes (F_SETPIPE_SZ), which cr cannot give a new pipe: ${whyNot(error)}; shrink it before the checkpoint` }];
    } finally {
      closeSync(read);
      closeSync(write);
    }
  });
}

/** Why F_SETPIPE_SZ failed, for a person. */
function whyNot(error: unknown): string {
  if (!(error instanceof NativeError)) throw error;
  if (error.code === "EPERM") return `it is above /proc/sys/fs/pipe-max-size (${readFileSync("/proc/sys/fs/pipe-max-size", "utf8").trim()}), which only CAP_SYS_RESOURCE may exceed`;
  if (error.code === "EBUSY") return "it holds more bytes than that (another process has it open)";
  return error.code;
}

/**
 * Restart half: gives the pipe or FIFO cr's `fd` is on the saved capacity of pipe `pipeId`, or a
 * new pipe's when none was saved (an older image, or the default), before its bytes go in.
 */
export function resizePipe(fd: number, pipeId: bigint, sizes: PipeSizes, what: string): void {
  const size = sizes.find((s) => s.pipeId === pipeId)?.size ?? PIPE_DEFAULT_SIZE;
  if (pipeCapacity(fd) === size) return;
  let given: number;
  try {
    given = setPipeCapacity(fd, size);
  } catch (error) {
    throw new CrError(`${what}: its capacity of ${size} bytes cannot be set again (F_SETPIPE_SZ): ${whyNot(error)}`, { code: error instanceof NativeError ? error.code : "EIO", step: "open files", cause: error });
  }
  if (given !== size) throw new CrError(`${what}: F_SETPIPE_SZ gave it ${given} bytes, not the saved ${size}`, { code: "EINVAL", step: "open files" });
}

/** Checkpoint half: what each pipe and FIFO of `files` holds (once per pipe), the empty ones left out. */
export function collectPipeData(pid: number, files: FdEntry[]): PipeBytes {
  return eachPipe(files).flatMap((file) => {
    const bytes = peekPipe(procPath(pid, `fd/${file.fd}`));
    return bytes.length > 0 ? [{ pipeId: file.ino, bytes }] : [];
  });
}

/** Every FIFO of `fds`, opened read-write by cr: path -> cr's fd. */
export class FifoHolders {
  private readonly held = new Map<string, number>();

  constructor(fds: FdRecord[]) {
    try {
      for (const fd of fds) if (fd.kind === FileKind.FIFO && !this.held.has(fd.path)) this.held.set(fd.path, openFifo(fd));
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Gives each FIFO its saved capacity and writes its saved bytes back into it, unless it holds
   * bytes already: another process kept it open, so the ones the checkpoint saw are still there
   * (or were read by it).
   */
  refill(fds: FdRecord[], data: PipeBytes, sizes: PipeSizes, warnings: string[]): void {
    for (const [path, holder] of this.held) {
      const fd = fds.find((f) => f.kind === FileKind.FIFO && f.path === path)!;
      resizePipe(holder, fd.pipeId, sizes, `FIFO ${path} (fd ${fd.fd})`);
      const saved = data.find((d) => d.pipeId === fd.pipeId);
      if (!saved) continue;
      const now = peekPipe(procPath(process.pid, `fd/${holder}`)).length;
      if (now === 0) fillPipe(holder, Buffer.from(saved.bytes));
      else warnings.push(`FIFO ${path} holds ${now} bytes already (another process has it open): its ${saved.bytes.length} saved bytes are not written again`);
    }
  }

  close(): void {
    this.held.forEach((f) => closeSync(f));
    this.held.clear();
  }
}

function openFifo(fd: FdRecord): number {
  try {
    return openSync(fd.path, fsc.O_RDWR);
  } catch (error) {
    throw new CrError(`cannot open FIFO ${fd.path} for fd ${fd.fd}: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", path: fd.path, step: "open files", cause: error });
  }
}

/**
 * Restart half for pipes inside the process (by pipe id -> [read, write]): each new pipe gets its
 * saved capacity, then its saved bytes.
 */
export function refillPipes(pipes: Map<bigint, [number, number]>, data: PipeBytes, sizes: PipeSizes): void {
  for (const [pipeId, [, write]] of pipes) resizePipe(write, pipeId, sizes, `pipe:[${pipeId}]`);
  for (const { pipeId, bytes } of data) {
    const pipe = pipes.get(pipeId);
    if (pipe) fillPipe(pipe[1], Buffer.from(bytes));
  }
}

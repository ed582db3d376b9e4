/**
 * Pipes and FIFOs: the bytes buffered in them, and opening a FIFO without blocking.
 *
 * Checkpoint: the bytes of every pipe and FIFO the process has open are peeked through
 * /proc/PID/fd/N with tee(2), which duplicates them into a pipe of cr's own and leaves them in
 * place (the process, or whoever reads the FIFO, still finds them). Restart: they are written
 * back into the new pipe, or into the FIFO, before the process runs.
 *
 * A FIFO's O_RDONLY open blocks until a writer comes, O_WRONLY until a reader does: cr holds
 * each FIFO open read-write (which never blocks) while it opens the process's ends, so these
 * opens, with the saved flags, return at once.
 */
import { closeSync, openSync, constants as fsc } from "node:fs";
import { FileKind, type FdRecord, type PipeDataRecord } from "@cr/format";
import { fillPipe, peekPipe } from "@cr/native";
import { CrError, errnoCode } from "./errors.js";
import type { FdEntry } from "./files.js";
import { procPath } from "./procfs.js";

export type PipeBytes = PipeDataRecord["pipes"];

/** Checkpoint half: what each pipe and FIFO of `files` holds (once per pipe), the empty ones left out. */
export function collectPipeData(pid: number, files: FdEntry[]): PipeBytes {
  const out: PipeBytes = [];
  const seen = new Set<bigint>();
  for (const file of files) {
    if ((file.kind !== "pipe" && file.kind !== "fifo") || seen.has(file.ino)) continue;
    seen.add(file.ino);
    const bytes = peekPipe(procPath(pid, `fd/${file.fd}`));
    if (bytes.length > 0) out.push({ pipeId: file.ino, bytes });
  }
  return out;
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
   * Writes the saved bytes of each FIFO back into it, unless it holds bytes already: another
   * process kept it open, so the ones the checkpoint saw are still there (or were read by it).
   */
  refill(fds: FdRecord[], data: PipeBytes, warnings: string[]): void {
    for (const [path, holder] of this.held) {
      const fd = fds.find((f) => f.kind === FileKind.FIFO && f.path === path)!;
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

/** Restart half for pipes inside the process: their saved bytes, into the new pipe (by pipe id -> [read, write]). */
export function refillPipes(pipes: Map<bigint, [number, number]>, data: PipeBytes): void {
  for (const { pipeId, bytes } of data) {
    const pipe = pipes.get(pipeId);
    if (pipe) fillPipe(pipe[1], Buffer.from(bytes));
  }
}

// Image files are written around the page cache (O_DIRECT). A new image is rarely read back
// soon, and filling the page cache with it costs more than the disk write itself where fresh
// memory is expensive (a VM whose free pages go back to the host: 2.4 s per GiB here, against
// 0.6 s for the O_DIRECT write). Writes go through a few aligned staging buffers, several in
// flight at once on libuv's thread pool, while the caller fills the next. Small images still go
// through the page cache: cheap there, and the next restart likely reads them.
import { closeSync, constants as fsc, ftruncateSync, openSync, read, write } from "node:fs";
import { DIRECT_ALIGN, type FileSpan, type ImageReader, type ImageSink, type PartSink } from "@cr/format";
import { alignedBuffer } from "@cr/native";
import { CrError, errnoCode } from "./errors.js";

const STAGE_BYTES = 8 << 20;
const STAGES = 4;
/** Images with less page data than this are written through the page cache. */
export const DIRECT_MIN_BYTES = 64 << 20;
/** Staging buffers of earlier images: fresh memory is what is slow (`cr snapshot --interval`). */
const pool: Buffer[] = [];

/**
 * Runs `f` with a sink for `fd`'s file: O_DIRECT for `dataBytes` of at least DIRECT_MIN_BYTES
 * where the file system allows it (not tmpfs), else `fd` itself. `what` names the file in errors.
 */
export async function withImageSink<T>(fd: number, what: string, dataBytes: number, f: (sink: ImageSink) => Promise<T>): Promise<T> {
  const sink = dataBytes >= DIRECT_MIN_BYTES ? DirectSink.open(fd, what) : undefined;
  try {
    return await f(sink ?? fd);
  } finally {
    await sink?.close();
  }
}

class DirectSink implements PartSink {
  private readonly free: Buffer[] = [];
  private readonly waiting: (() => void)[] = [];
  private current: Buffer;
  private filled = 0;
  /** File offset of `current`'s first byte. */
  private pos = 0;
  private inFlight = 0;
  private failure: CrError | undefined;
  /** Staging buffers taken so far (at most STAGES). */
  private stages = 1;

  /** A second open file description of `fd`'s file, so O_DIRECT does not change the caller's. */
  static open(fd: number, what: string): DirectSink | undefined {
    let direct: number;
    try {
      direct = openSync(`/proc/self/fd/${fd}`, fsc.O_WRONLY | fsc.O_DIRECT);
    } catch (error) {
      if (errnoCode(error) === "EINVAL") return undefined;
      throw new CrError(`cannot open ${what} for direct I/O: ${(error as Error).message}`, { code: errnoCode(error) ?? "EIO", path: what, cause: error });
    }
    return new DirectSink(direct, what);
  }

  private constructor(
    private readonly fd: number,
    private readonly what: string,
  ) {
    this.current = pool.pop() ?? alignedBuffer(STAGE_BYTES);
  }

  async write(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      for (let off = 0; off < part.byteLength; ) {
        const n = Math.min(part.byteLength - off, STAGE_BYTES - this.filled);
        this.current.set(part.subarray(off, off + n), this.filled);
        this.filled += n;
        off += n;
        if (this.filled === STAGE_BYTES) await this.submit(STAGE_BYTES);
      }
    }
    this.throwIfFailed();
  }

  /** Writes the tail (zero-padded to a block, then cut back to size) and waits for every write. */
  async flush(): Promise<void> {
    const size = this.pos + this.filled;
    if (this.filled > 0) {
      const padded = Math.ceil(this.filled / DIRECT_ALIGN) * DIRECT_ALIGN;
      this.current.fill(0, this.filled, padded);
      await this.submit(padded);
    }
    await this.settle();
    this.throwIfFailed();
    ftruncateSync(this.fd, size);
  }

  /** Waits for the writes in flight (a failed image's too: nothing is left writing) and closes. */
  async close(): Promise<void> {
    await this.settle();
    closeSync(this.fd);
    pool.push(this.current, ...this.free.splice(0));
  }

  private async settle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private async submit(length: number): Promise<void> {
    const buffer = this.current;
    const at = this.pos;
    this.inFlight++;
    write(this.fd, buffer, 0, length, at, (error, written) => {
      if (!error && written !== length) error = Object.assign(new Error("short write (no space left on device?)"), { code: "ENOSPC" });
      if (error) this.failure ??= ioError("writing", this.what, at, error);
      this.inFlight--;
      this.free.push(buffer);
      this.waiting.splice(0).forEach((wake) => wake());
    });
    this.pos += length;
    this.filled = 0;
    if (this.free.length === 0 && this.stages < STAGES) {
      this.free.push(pool.pop() ?? alignedBuffer(STAGE_BYTES));
      this.stages++;
    }
    while (this.free.length === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.current = this.free.pop()!;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/** Reads of one image in flight at once, ahead of their use. */
const READ_AHEAD = 8;

/**
 * Reads the raw blocks of a large image (read around the cache) ahead of their use, in the
 * order given, a few in flight on libuv's thread pool while the caller works on the last one:
 * the disk and the CPU work at the same time. Each block's whole chunk is one read
 * (ImageReader.chunkSpan), handed back as a span for readBlock.
 */
export class BlockReadAhead {
  private readonly spans: { block: number; start: number; length: number }[];
  private readonly reads: Promise<FileSpan>[] = [];
  private readonly slots: Buffer[] = [];
  private next = 0;

  /** Undefined when `reader` reads through the page cache (small image): nothing to gain. */
  static for(reader: ImageReader, blocks: number[]): BlockReadAhead | undefined {
    const fd = reader.directDescriptor;
    if (fd === undefined) return undefined;
    const spans = blocks.flatMap((block) => {
      const span = reader.chunkSpan(block);
      return span ? [{ block, ...span }] : [];
    });
    return spans.length > 0 ? new BlockReadAhead(fd, reader.path, spans) : undefined;
  }

  private constructor(
    private readonly fd: number,
    private readonly what: string,
    spans: { block: number; start: number; length: number }[],
  ) {
    this.spans = spans;
    const slotBytes = Math.max(...spans.map((s) => s.length));
    for (let i = 0; i <= READ_AHEAD; i++) this.slots.push(alignedBuffer(slotBytes));
    for (let i = 0; i < Math.min(READ_AHEAD, spans.length); i++) this.reads.push(this.readSpan(i));
  }

  /** The span of `block` if it is the next one read ahead (valid until the following call), else undefined. */
  async take(block: number): Promise<FileSpan | undefined> {
    if (this.spans[this.next]?.block !== block) return undefined;
    const span = await this.reads[this.next]!;
    // The slot of the span handed out before this one is free again: refill it.
    const ahead = this.next + READ_AHEAD;
    if (ahead < this.spans.length) this.reads.push(this.readSpan(ahead));
    this.next++;
    return span;
  }

  /** Waits for the reads still in flight, so no slot is written after the caller moves on. */
  async close(): Promise<void> {
    await Promise.allSettled(this.reads.slice(this.next));
  }

  private readSpan(i: number): Promise<FileSpan> {
    const { start, length } = this.spans[i]!;
    const slot = this.slots[i % this.slots.length]!;
    const reading = new Promise<FileSpan>((resolve, reject) => {
      read(this.fd, slot, 0, length, start, (error, got) => {
        if (!error && got !== length) error = Object.assign(new Error(`file ends after ${start + got} bytes`), { code: "EIO" });
        if (error) reject(ioError("reading", this.what, start, error));
        else resolve({ start, bytes: slot.subarray(0, length) });
      });
    });
    // A failed read surfaces in take(); one never taken (the caller failed first) is not an error.
    reading.catch(() => undefined);
    return reading;
  }
}

function ioError(doing: "reading" | "writing", what: string, offset: number, error: Error): CrError {
  return new CrError(`${doing} ${what} at offset ${offset}: ${error.message}`, { code: errnoCode(error) ?? "EIO", path: what, offset, cause: error });
}

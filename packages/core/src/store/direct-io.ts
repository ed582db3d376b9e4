// Image files are written around the page cache (O_DIRECT). A new image is rarely read back
// soon, and filling the page cache with it costs more than the disk write itself where fresh
// memory is expensive (a VM whose free pages go back to the host: 2.4 s per GiB here, against
// 0.6 s for the O_DIRECT write). Writes go through a few aligned staging buffers, several in
// flight at once on libuv's thread pool, while the caller fills the next. Small images still go
// through the page cache: cheap there, and the next restart likely reads them.
import { closeSync, constants as fsc, ftruncateSync, openSync, write } from "node:fs";
import { DIRECT_ALIGN, type FileSpan, type ImageReader, type ImageSink, type PartSink } from "@cr/format";
import { alignedBuffer, readHashed } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";

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

/**
 * Block reads in flight or ready at once, ahead of their use, per lane: the disk (O_DIRECT)
 * wants many in flight to stream; page cache reads are the pool threads' CPU (copy and hash),
 * and more of them than cores only delays the disk's. In one queue, a deep chain's many small
 * images left the disk a read or two in flight.
 */
const READ_AHEAD = { disk: 8, cache: 4 };
/**
 * Slots beyond those for holding spans done with until release(): a restart releases them
 * when the batch that copies from them is written, two 8 MiB batches later.
 */
const HELD_SLOTS = 32;

/**
 * Slot memory of earlier read-aheads (each coalesced image has one), kept for the next: fresh
 * memory is what is slow, and so is mapping it while the pool threads read (a few ms an mmap).
 */
const arenaPool: Buffer[] = [];
const ARENAS_KEPT = 2;

/** An arena of at least `bytes` bytes, pooled if one is large enough. */
function takeArena(bytes: number): Buffer {
  const i = arenaPool.findIndex((a) => a.byteLength >= bytes);
  return i >= 0 ? arenaPool.splice(i, 1)[0]! : alignedBuffer(bytes);
}

function keepArena(arena: Buffer): void {
  arenaPool.push(arena);
  arenaPool.sort((a, b) => b.byteLength - a.byteLength).splice(ARENAS_KEPT);
}

/** One block the caller will want, where its chunk is, and the slot it is read into once started. */
interface PlannedRead {
  image: AheadImage;
  block: number;
  start: number;
  length: number;
  /** The chunk's body: the span's last bytes, hashed where they are read. */
  bodyLength: number;
  slot?: Buffer;
  reading?: Promise<FileSpan>;
  /** Taken before it could start: the caller read it itself. */
  skipped?: boolean;
}

interface AheadImage {
  lane: Lane;
  fd: number;
  what: string;
  /** This image's reads, in order, and the next one to hand out. */
  order: PlannedRead[];
  next: number;
  /** The slot of the span handed out last: the caller may still be using it. */
  current?: Buffer;
}

/** The reads of one kind, in the plan's order: lane.reads[0..started) are read or being read, `waiting` of them not taken yet. */
interface Lane {
  depth: number;
  reads: PlannedRead[];
  started: number;
  waiting: number;
}

function lane(depth: number): Lane {
  return { depth, reads: [], started: 0, waiting: 0 };
}

/**
 * Reads the raw blocks of a chain's images ahead of their use, in the order the caller will
 * take them, a few in flight on libuv's thread pool while the caller checks and copies the
 * last: the reads (disk, or page cache copies) and the CPU work at the same time. Large images
 * are read around the cache (O_DIRECT), small ones through it (ImageReader.blockDescriptor).
 * Each block's whole chunk is one read (ImageReader.chunkSpan), handed back as a span for
 * readBlock, so the caller checks it exactly as a block it read itself; its body is hashed on
 * the pool as it is read (FileSpan.tailHash), so the caller only compares the hash.
 */
export class BlockReadAhead {
  private readonly lanes = { disk: lane(READ_AHEAD.disk), cache: lane(READ_AHEAD.cache) };
  private readonly images = new Map<bigint, AheadImage>();
  private readonly slotBytes: number;
  private readonly slots: number;
  private readonly inFlight = new Set<Promise<FileSpan>>();
  /** One mapping cut into slots as they are needed (`carved` so far); slots free again. */
  private arena: Buffer | undefined;
  private carved = 0;
  private readonly free: Buffer[] = [];
  /** With `holdTaken`: slots of spans done with, in order, kept until release(); `released` of them so far. */
  private readonly done: Buffer[] | undefined;
  private released = 0;

  /**
   * `uses`: every block the caller will take, in order. Blocks without a span (LZ4) are left to
   * the caller. With `holdTaken`, a span stays valid after the next take for its image, until
   * release() covers it: for a caller that copies out of spans later, on another thread.
   */
  constructor(uses: Iterable<{ crid: bigint; reader: ImageReader; block: number }>, { holdTaken = false } = {}) {
    let slotBytes = 0;
    for (const { crid, reader, block } of uses) {
      const span = reader.chunkSpan(block);
      if (!span) continue;
      let image = this.images.get(crid);
      if (!image) {
        const kind = reader.readsAroundCache ? "disk" : "cache";
        this.images.set(crid, (image = { lane: this.lanes[kind], fd: reader.blockDescriptor, what: reader.path, order: [], next: 0 }));
      }
      const read = { image, block, ...span };
      image.order.push(read);
      image.lane.reads.push(read);
      slotBytes = Math.max(slotBytes, span.length);
    }
    this.slotBytes = Math.ceil(slotBytes / DIRECT_ALIGN) * DIRECT_ALIGN;
    // Each image keeps the slot of the span it took last; each lane's depth more are read or waiting.
    const { disk, cache } = this.lanes;
    const held = holdTaken ? HELD_SLOTS : 0;
    this.slots = this.images.size + Math.min(disk.reads.length, disk.depth) + Math.min(cache.reads.length, cache.depth) + held;
    if (holdTaken) this.done = [];
    if (disk.reads.length + cache.reads.length > 0) this.arena = takeArena(this.slots * this.slotBytes);
    this.startReads(disk);
    this.startReads(cache);
  }

  /** The span of `block` if it is `crid`'s next one read ahead (valid until the next take for `crid`), else undefined. */
  take(crid: bigint, block: number): Promise<FileSpan> | undefined {
    const image = this.images.get(crid);
    const read = image?.order[image.next];
    if (!image || read?.block !== block) return undefined;
    image.next++;
    // The span handed out before this one for the same image is done with: its slot is free
    // again, or once released.
    if (image.current) (this.done ?? this.free).push(image.current);
    image.current = read.slot;
    // Not started for want of a slot: the caller reads it itself, and it is never started.
    if (!read.reading) {
      read.skipped = true;
      return undefined;
    }
    image.lane.waiting--;
    this.startReads(image.lane);
    return read.reading;
  }

  /** The memory every span is in (undefined when nothing is read ahead). */
  get memory(): Buffer | undefined {
    return this.arena;
  }

  /** Counts the spans done with so far (holdTaken): release(mark()) later frees their slots. */
  mark(): number {
    return this.released + (this.done?.length ?? 0);
  }

  release(mark: number): void {
    while (this.done && this.released < mark && this.done.length > 0) {
      this.free.push(this.done.shift()!);
      this.released++;
    }
    this.startReads(this.lanes.disk);
    this.startReads(this.lanes.cache);
  }

  /** Whether `block`, `crid`'s next read, waits for spans to be released before it can start. */
  waitsForSlot(crid: bigint, block: number): boolean {
    const image = this.images.get(crid);
    const read = image?.order[image.next];
    return read?.block === block && !read.reading && !this.hasSlot();
  }

  /** Waits for the reads still in flight, so no slot is written after the caller moves on. */
  async close(): Promise<void> {
    this.images.clear();
    await Promise.allSettled(this.inFlight);
    if (this.arena) keepArena(this.arena);
    this.arena = undefined;
  }

  private startReads(lane: Lane): void {
    while (lane.waiting < lane.depth && lane.started < lane.reads.length && this.hasSlot()) {
      const read = lane.reads[lane.started++]!;
      if (read.skipped) continue;
      read.slot = this.slot();
      read.reading = this.readSpan(read, read.slot);
      lane.waiting++;
    }
  }

  private hasSlot(): boolean {
    return this.free.length > 0 || this.carved < this.slots;
  }

  private slot(): Buffer {
    const free = this.free.pop();
    if (free) return free;
    const at = this.carved++ * this.slotBytes;
    return this.arena!.subarray(at, at + this.slotBytes);
  }

  private readSpan({ image, start, length, bodyLength }: PlannedRead, slot: Buffer): Promise<FileSpan> {
    const tail = Math.min(bodyLength, length);
    const reading = readHashed(image.fd, slot, length, start, tail).then(
      (value) => ({ start, bytes: slot.subarray(0, length), tailHash: { length: tail, value } }),
      (error: Error) => Promise.reject(ioError("reading", image.what, start, error)),
    );
    this.inFlight.add(reading);
    // A failed read surfaces in take(); one never taken (the caller failed first) is not an error.
    reading.catch(() => undefined).finally(() => this.inFlight.delete(reading));
    return reading;
  }
}

function ioError(doing: "reading" | "writing", what: string, offset: number, error: Error): CrError {
  return new CrError(`${doing} ${what} at offset ${offset}: ${error.message}`, { code: errnoCode(error) ?? "EIO", path: what, offset, cause: error });
}

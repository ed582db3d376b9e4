/**
 * ImageWriter: writes one image front to back, never seeking, to a file descriptor (fast
 * path: synchronous writev straight from the caller's page buffers) or to a Node Writable
 * (a pipe, a socket). Page data is hashed once per block, in one xxh64 call, and written
 * without copying.
 */
import { writeSync, writevSync } from "node:fs";
import type { Writable } from "node:stream";
import {
  encodeChunkPrefix,
  encodeFooter,
  encodePreamble,
  identityPair,
  PREAMBLE_SIZE,
} from "./framing.js";
import { createXxh64, type Hasher64, xxh64 } from "./hash.js";
import { lz4Bound, lz4Compress } from "./lz4.js";
import { PageSource, type PageMapEntry } from "./pagemap.js";
import { encodePageMapColumns } from "./pagemap-codec.js";
import { checkColumnOrder, entryColumns, type PageColumns } from "./pagemap-columns.js";
import {
  ChunkFlags,
  ChunkType,
  chunkTypeInfo,
  type Header,
  HeaderSchema,
  ImageKind,
  type IndexEntry,
  IndexSchema,
  MemberSchema,
  MemberState,
  PageCodec,
  PageMapMetaSchema,
  PagesMetaSchema,
  type ProcessTableRecord,
  ProcessTableSchema,
  type RecordTypeName,
  type RecordTypes,
  type Reference,
  ReferencesSchema,
} from "./records.js";
import { encode } from "./schema.js";

/**
 * A sink of the caller's own making (e.g. O_DIRECT staging). `write` must be done with the
 * parts' bytes when it returns or resolves; `flush` makes everything written reach the file.
 */
export interface PartSink {
  write(parts: Uint8Array[]): void | Promise<void>;
  flush(): Promise<void>;
}

export type ImageSink = number | Writable | PartSink;

export interface ImageHeaderInput {
  crid: bigint;
  /** 0n or absent for a full image. */
  parentCrid?: bigint;
  parentIdentity?: bigint;
  pageSize: number;
  arch?: string;
  kernelRelease?: string;
  createdMs?: bigint;
  toolVersion?: string;
}

export interface ImageWriterOptions {
  header: ImageHeaderInput;
  /** Every earlier image the page map's REFs point into, with its identity. */
  references?: readonly Reference[];
  /** A tree image: its processes; each running one's section then starts with beginMember(). */
  processTable?: ProcessTableRecord;
  /**
   * The LZ4 block compressor, lz4Compress's contract (cr passes the native reference library's,
   * which is faster); default: this package's own.
   */
  compress?: (src: Uint8Array, dst: Uint8Array) => number;
}

export interface FinishResult {
  identity: bigint;
  /** Total bytes written. */
  bytes: number;
}

/** Largest block writePages accepts (the LZ4 block format's input limit). */
export const MAX_BLOCK_BYTES = 0x7e000000;
/** An LZ4 block is kept only if it is at most this fraction of the raw size; else the block is stored raw. */
export const LZ4_KEEP_RATIO = 7 / 8;

/** Where bytes go, whatever the ImageSink: `write` is done with the parts when it returns or resolves. */
export interface Sink {
  write(parts: Uint8Array[]): void | Promise<void>;
}

/** The Sink of an ImageSink (a PartSink is one already). */
export function sinkOf(sink: ImageSink): Sink {
  return typeof sink === "number" ? fdSink(sink) : isPartSink(sink) ? sink : streamSink(sink);
}

function fdSink(fd: number): Sink {
  return {
    write(parts) {
      let total = 0;
      for (const p of parts) total += p.byteLength;
      let done = writevSync(fd, parts as NodeJS.ArrayBufferView[]);
      if (done === total) return;
      // Partial write: finish part by part.
      for (const p of parts) {
        if (done >= p.byteLength) {
          done -= p.byteLength;
          continue;
        }
        let off = done;
        done = 0;
        while (off < p.byteLength) off += writeSync(fd, p, off, p.byteLength - off);
      }
    },
  };
}

function isPartSink(sink: ImageSink): sink is PartSink {
  // Streams are EventEmitters (and zlib's have a flush of their own); a PartSink is not.
  return typeof sink === "object" && typeof (sink as Writable).on !== "function";
}

function streamSink(w: Writable): Sink {
  return {
    write(parts) {
      return new Promise<void>((resolve, reject) => {
        let last = false;
        for (let i = 0; i < parts.length; i++) {
          last = i === parts.length - 1;
          // Wait for the last part's callback: by then the stream no longer holds the
          // caller's buffers, which the caller may reuse as soon as we return.
          w.write(parts[i], last ? (err) => (err ? reject(err) : resolve()) : undefined);
        }
        if (!last) resolve();
      });
    },
  };
}

export class ImageWriter {
  readonly header: Header;
  readonly references: readonly Reference[];
  private readonly sink: Sink;
  private readonly flushSink: (() => Promise<void>) | undefined;
  private readonly pageSize: number;
  private pos = 0;
  private readonly identityHash: Hasher64;
  private readonly index: IndexEntry[] = [];
  private readonly blockPages = new Map<number, number>();
  private pageMapWritten = false;
  /** A tree image: MEMBER sections begun so far (-1: an image of one process, no sections). */
  private members = -1;
  /** A tree image's running processes, in table order: the order of its MEMBER sections. */
  private sectionPids: number[] = [];
  private finished = false;
  private pending: Promise<void> = Promise.resolve();
  private readonly syncSink: boolean;
  private busy = false;
  private scratch = new Uint8Array(0);

  private readonly compress: (src: Uint8Array, dst: Uint8Array) => number;

  constructor(sink: ImageSink, opts: ImageWriterOptions) {
    this.compress = opts.compress ?? lz4Compress;
    const h = opts.header;
    const ps = h.pageSize;
    if (!Number.isInteger(ps) || ps < 4096 || ps > 1 << 20 || (ps & (ps - 1)) !== 0) {
      throw new RangeError(`page size must be a power of two in 4096..1 MiB, got ${ps}`);
    }
    const parentCrid = h.parentCrid ?? 0n;
    if (h.crid === 0n) throw new RangeError("CRID 0 is reserved (it means 'no parent')");
    this.header = {
      crid: h.crid,
      parentCrid,
      parentIdentity: h.parentIdentity ?? 0n,
      kind: parentCrid === 0n ? ImageKind.FULL : ImageKind.INCREMENTAL,
      pageSize: ps,
      arch: h.arch ?? process.arch,
      kernelRelease: h.kernelRelease ?? "",
      createdMs: h.createdMs ?? BigInt(Date.now()),
      toolVersion: h.toolVersion ?? "",
    };
    this.references = [...(opts.references ?? [])];
    this.pageSize = ps;
    this.syncSink = typeof sink === "number";
    this.sink = sinkOf(sink);
    this.flushSink = isPartSink(sink) ? () => sink.flush() : undefined;
    this.identityHash = createXxh64();
    const preamble = encodePreamble();
    this.identityHash.update(preamble);
    this.queue([preamble]);
    this.pos = PREAMBLE_SIZE;
    this.chunk(ChunkType.HEADER, encode(HeaderSchema, this.header));
    this.chunk(ChunkType.REFERENCES, encode(ReferencesSchema, { images: this.references }));
    if (opts.processTable) {
      this.chunk(ChunkType.PROCESS_TABLE, encode(ProcessTableSchema, opts.processTable));
      this.members = 0;
      this.sectionPids = opts.processTable.processes.filter((p) => p.state === MemberState.RUNNING).map((p) => p.pid);
    }
  }

  /** Bytes written (or queued) so far = offset of the next chunk. */
  get offset(): number {
    return this.pos;
  }

  /** Starts the section of running process `pid` of the process table: its records, PAGES and PAGE_MAP follow. */
  beginMember(pid: number): Promise<number> {
    return this.run(() => {
      if (this.members < 0) throw new Error("MEMBER in an image without a process table");
      if (this.members > 0 && !this.pageMapWritten) throw new Error("MEMBER before the previous section's PAGE_MAP");
      // A reader finds a process's section by its place among the table's running processes.
      const expected = this.sectionPids[this.members];
      if (pid !== expected) throw new Error(`MEMBER ${pid} where the process table has ${expected ?? "no more running processes"}`);
      this.members++;
      this.pageMapWritten = false;
      return this.chunk(ChunkType.MEMBER, encode(MemberSchema, { pid }));
    });
  }

  /** Writes one process-state record. */
  writeRecord<K extends Exclude<RecordTypeName, "PROCESS_TABLE" | "MEMBER">>(type: K, value: RecordTypes[K]): Promise<number> {
    return this.run(() => {
      const info = chunkTypeInfo(ChunkType[type]);
      if (!info) throw new TypeError(`unknown record type ${type}`);
      return this.chunk(info.type, encode(info.schema, value));
    });
  }

  /**
   * Writes one block of pages (contiguous virtual addresses from `vaddr`) and returns the
   * offset of its PAGES chunk, for DATA entries of the page map. Raw blocks are page
   * aligned in the file. An LZ4 block that does not shrink to LZ4_KEEP_RATIO is stored raw.
   * The caller may reuse `pages` as soon as the promise resolves.
   */
  writePages(vaddr: bigint, pages: Uint8Array, codec: PageCodec | "raw" | "lz4" = PageCodec.RAW): Promise<number> {
    return this.run(() => this.pagesChunk(vaddr, pages, codec));
  }

  /**
   * Writes a raw block whose body hash the caller already has (a block read from another image
   * and checked there, which coalesce carries over whole; or hashed by faster code than this
   * package's): the bytes are not hashed again. A wrong hash makes the image fail its readers' checks.
   */
  writeCheckedPages(vaddr: bigint, pages: Uint8Array, bodyHash: bigint): Promise<number> {
    return this.run(() => this.pagesChunk(vaddr, pages, PageCodec.RAW, bodyHash));
  }

  /**
   * Writes a block the caller compressed already (one LZ4 block of `rawLength` bytes of pages, and
   * the hash of those compressed bytes: cr compresses and hashes on other cores).
   */
  writeCompressedPages(vaddr: bigint, compressed: Uint8Array, rawLength: number, bodyHash: bigint): Promise<number> {
    return this.run(() => this.pagesChunk(vaddr, compressed, PageCodec.LZ4, bodyHash, rawLength));
  }

  private pagesChunk(vaddr: bigint, pages: Uint8Array, codec: PageCodec | "raw" | "lz4", bodyHash?: bigint, compressedFrom?: number): number {
    if (this.pageMapWritten) throw new Error("PAGES after PAGE_MAP: the page map comes after every block");
    const ps = this.pageSize;
    const n = compressedFrom ?? pages.byteLength;
    if (n === 0 || n % ps !== 0) throw new RangeError(`page data of ${n} bytes is not a positive multiple of the page size ${ps}`);
    if (n > MAX_BLOCK_BYTES) throw new RangeError(`a block holds at most ${MAX_BLOCK_BYTES} bytes, got ${n}`);
    if (vaddr % BigInt(ps) !== 0n) throw new RangeError(`vaddr 0x${vaddr.toString(16)} is not page aligned`);
    const count = n / ps;
    let c: PageCodec = codec === "raw" ? PageCodec.RAW : codec === "lz4" ? PageCodec.LZ4 : codec;
    let body = pages;
    if (compressedFrom !== undefined) {
      // compressed by the caller: `pages` is the LZ4 block's body
    } else if (c === PageCodec.LZ4) {
      if (this.scratch.byteLength < lz4Bound(n)) this.scratch = new Uint8Array(lz4Bound(n));
      const limit = Math.floor(n * LZ4_KEEP_RATIO);
      const len = this.compress(pages, this.scratch.subarray(0, limit));
      if (len < 0) c = PageCodec.RAW;
      else body = this.scratch.subarray(0, len);
    } else if (c !== PageCodec.RAW) {
      throw new RangeError(`unknown page codec ${String(codec)}`);
    }
    const meta = encode(PagesMetaSchema, { vaddr, pages: count, codec: c, rawLength: n });
    const flags = c === PageCodec.RAW ? ChunkFlags.ALIGNED : 0;
    const off = this.chunk(ChunkType.PAGES, meta, body, flags, { vaddr, pages: count, codec: c }, bodyHash);
    this.blockPages.set(off, count);
    return off;
  }

  /** Writes the complete page map (once, after every PAGES chunk). */
  writePageMap(entries: readonly PageMapEntry[]): Promise<number> {
    return this.run(() => {
      const holders = this.references.map((r) => r.crid);
      return this.pageMapChunk(entryColumns(entries, holders, this.pageSize), holders);
    });
  }

  /** The same from columns whose holder indexes name `holders` (pagemap-columns.ts): a deep chain's map. */
  writePageMapColumns(columns: PageColumns, holders: readonly bigint[]): Promise<number> {
    return this.run(() => this.pageMapChunk(columns, holders));
  }

  private pageMapChunk(c: PageColumns, holders: readonly bigint[]): number {
    if (this.pageMapWritten) throw new Error("the page map is written once (per section)");
    if (this.members === 0) throw new Error("PAGE_MAP before the first MEMBER of a tree image");
    const bad = checkColumnOrder(c, this.pageSize);
    if (bad) throw new RangeError(`page map entry ${bad.index}: ${bad.why}`);
    let total = 0;
    const where = (i: number) => `DATA entry at 0x${(c.first[i]! * this.pageSize).toString(16)}`; // only for an error: ~40k entries per 20% increment of 1 GiB
    for (let i = 0; i < c.length; i++) {
      if (!(c.source[i]! >= PageSource.DATA && c.source[i]! <= PageSource.FILE)) throw new RangeError(`page map entry ${i}: source ${c.source[i]}, not one of PageSource`);
      if (c.source[i] === PageSource.DATA) {
        const have = this.blockPages.get(c.block[i]!);
        if (have === undefined) throw new RangeError(`${where(i)}: no PAGES chunk at offset ${c.block[i]}`);
        if (c.firstPage[i]! + c.pages[i]! > have) throw new RangeError(`${where(i)}: pages ${c.firstPage[i]}+${c.pages[i]} past the block's ${have}`);
      }
      total += c.pages[i]!;
    }
    const body = encodePageMapColumns(c, holders, this.references); // refuses a REF to an image not in the references
    const meta = encode(PageMapMetaSchema, { entryCount: c.length, totalPages: total });
    this.pageMapWritten = true;
    return this.chunk(ChunkType.PAGE_MAP, meta, body);
  }

  /** Writes INDEX and the footer, and flushes a PartSink. Does not close or end the sink. */
  async finish(): Promise<FinishResult> {
    const result = await this.run(() => this.finishChunks());
    await this.flushSink?.();
    return result;
  }

  private finishChunks(): FinishResult {
    if (!this.pageMapWritten) throw new Error("finish() before writePageMap(): every image carries a page map");
    const indexOffset = this.chunk(ChunkType.INDEX, encode(IndexSchema, { chunks: this.index }));
    const identity = this.identityHash.digest();
    const footer = encodeFooter(indexOffset, identity);
    this.queue([footer]);
    this.pos += footer.byteLength;
    this.finished = true;
    return { identity, bytes: this.pos };
  }

  private chunk(
    type: number,
    meta: Uint8Array,
    body?: Uint8Array,
    extraFlags = 0,
    pagesInfo?: { vaddr: bigint; pages: number; codec: number },
    knownBodyHash?: bigint,
  ): number {
    const info = chunkTypeInfo(type)!;
    const flags = extraFlags | (info.optional ? ChunkFlags.OPTIONAL : 0);
    const bodyLength = body?.byteLength ?? 0;
    const bodyHash = bodyLength > 0 ? (knownBodyHash ?? xxh64(body!)) : 0n;
    const off = this.pos;
    const { bytes, headHash } = encodeChunkPrefix(type, flags, meta, bodyLength, bodyHash, off, this.pageSize);
    this.identityHash.update(identityPair(headHash, bodyHash));
    if (type !== ChunkType.INDEX) {
      this.index.push({
        type,
        flags,
        reserved: 0,
        offset: off,
        vaddr: pagesInfo?.vaddr ?? 0n,
        pages: pagesInfo?.pages ?? 0,
        codec: pagesInfo?.codec ?? 0,
        reserved2: 0,
        reserved3: 0,
      });
    }
    this.queue(bodyLength > 0 ? [bytes, body!] : [bytes]);
    this.pos = off + bytes.byteLength + bodyLength;
    return off;
  }

  private queue(parts: Uint8Array[]): void {
    if (this.syncSink) {
      // File descriptor: write now, so the caller's buffers are never held.
      this.sink.write(parts);
      return;
    }
    this.pending = this.pending.then(() => this.sink.write(parts));
  }

  /** One call at a time: the writer reuses its buffers between calls. */
  private async run<T>(f: () => T): Promise<T> {
    if (this.finished) throw new Error("image already finished");
    if (this.busy) throw new Error("ImageWriter: await each call before the next");
    this.busy = true;
    try {
      const v = f();
      await this.pending;
      return v;
    } finally {
      this.busy = false;
    }
  }
}

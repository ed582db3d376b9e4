/**
 * ImageReader: random access to an image file through its footer and INDEX. Every chunk is
 * checked (head hash, type, exact extent) when first touched; page blocks are checked
 * against their body hash before a byte of them is returned.
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from "node:fs";
import { FormatError, type FormatErrorContext, hex16 } from "./errors.js";
import {
  bodyOffset,
  CHUNK_HEAD_SIZE,
  type ChunkHead,
  checkChunk,
  checkPreamble,
  decodeChunkHead,
  decodeFooter,
  FOOTER_SIZE,
  HEAD_HASH_SIZE,
  MAX_BODY_IN_MEMORY,
  MAX_META_LENGTH,
  PREAMBLE_SIZE,
} from "./framing.js";
import {
  checkBodyHash,
  checkHeader,
  checkPagesMeta,
  decodeMeta,
  checkDataEntries,
  decodePageMapBody,
  decodePagesBody,
  type Lz4Decoder,
  orderError,
  orderStart,
  parseImage,
} from "./parse.js";
import type { PageMapEntry } from "./pagemap.js";
import { type ColumnMemory, columnEntries, imageHolders, type PageColumns } from "./pagemap-columns.js";
import {
  ChunkType,
  chunkTypeInfo,
  type Header,
  HeaderSchema,
  type IndexEntry,
  IndexSchema,
  MemberState,
  type PageCodec,
  type ProcessTableRecord,
  type RecordTypeName,
  type RecordTypes,
  type Reference,
  ReferencesSchema,
} from "./records.js";
import { FdSource } from "./source.js";
import { lz4Decompress } from "./lz4.js";

/** How ImageReader.open reads an image (see there). */
export interface ReaderOptions {
  crid?: bigint;
  columnMemory?: ColumnMemory;
  decompress?: Lz4Decoder;
}

/** Bytes of the file from `start`, read by the caller (e.g. ahead of time): see chunkSpan. */
export interface FileSpan {
  start: number;
  bytes: Uint8Array;
  /**
   * XXH64 of the last `length` bytes of `bytes`, computed by whoever read them (e.g. on another
   * thread): a raw PAGES body that is exactly those bytes is checked against it, not hashed again.
   */
  tailHash?: { length: number; value: bigint };
}

/** Where a PAGES block is in the file (for mmap of raw blocks, or reading it yourself). */
export interface PagesBlock {
  /** Offset of the PAGES chunk (the value page map entries name). */
  offset: number;
  vaddr: bigint;
  pages: number;
  codec: PageCodec;
  /** Offset of the body in the file (page aligned for raw blocks). */
  bodyOffset: number;
  bodyLength: number;
  bodyHash: bigint;
}

export interface VerifyResult {
  identity: bigint;
  bytes: number;
  chunks: number;
  pages: number;
}

interface ChunkRead {
  head: ChunkHead;
  meta: Uint8Array;
  bodyOffset: number;
}

/** `len` bytes at file offset `pos` from a span that holds them (copied into `into` if given). */
function fromSpan(span: FileSpan | undefined, pos: number, len: number, into?: Uint8Array): Uint8Array | undefined {
  if (!span || pos < span.start || pos + len > span.start + span.bytes.byteLength) return undefined;
  const view = span.bytes.subarray(pos - span.start, pos - span.start + len);
  if (!into) return view;
  into.set(view);
  return into;
}

/** The span's tail hash, if its tail is exactly the body of block `b`. */
function hashOfTail(span: FileSpan | undefined, b: PagesBlock): bigint | undefined {
  const tail = span?.tailHash;
  if (!span || !tail || tail.length !== b.bodyLength) return undefined;
  return span.start + span.bytes.byteLength === b.bodyOffset + b.bodyLength ? tail.value : undefined;
}

/** A section's page map, decoded once: columns, each entry's file offset, and objects when asked for. */
interface SectionMap {
  columns: PageColumns;
  offsets: Float64Array;
  entries?: PageMapEntry[];
}

/** O_DIRECT offsets, lengths and buffers are multiples of the logical block size; 4096 covers them all. */
export const DIRECT_ALIGN = 4096;

export class ImageReader {
  readonly path: string;
  readonly size: number;
  readonly header: Header;
  readonly references: readonly Reference[];
  /** From the footer (checked by its hash); verify() recomputes it. */
  readonly identity: bigint;
  /** Every chunk before INDEX, in file order. */
  readonly chunks: readonly IndexEntry[];
  private readonly fd: number;
  private readonly ctx: FormatErrorContext;
  private readonly ends = new Map<number, number>();
  private readonly blockInfo = new Map<number, PagesBlock>();
  private readonly indexByOffset = new Map<number, IndexEntry>();
  /** Chunk index ranges [from, to) of the process sections (one for an image of one process). */
  private readonly sectionRanges: [number, number][] = [];
  private readonly maps = new Map<number, SectionMap>();
  /** sections(), put in table order once. */
  private ordered: ImageSection[] | undefined;
  private cache: { offset: number; data: Uint8Array } | undefined;
  private closed = false;
  /** A second, O_DIRECT descriptor for raw page blocks (readAroundCache). */
  private directFd: number | undefined;

  /**
   * Opens an image file; `crid`, when given, must match the image's HEADER. `columnMemory`
   * allocates the page map's columns (pagemap-columns.ts ColumnMemory); `decompress` decodes
   * LZ4 blocks (default: this package's lz4Decompress).
   */
  static open(path: string, opts: ReaderOptions = {}): ImageReader {
    return ImageReader.fromFd(openSync(path, "r"), path, opts);
  }

  /** open() of a file the caller opened (the store, without following links); the reader owns `fd`, also on failure. */
  static fromFd(fd: number, path: string, opts: ReaderOptions = {}): ImageReader {
    try {
      return new ImageReader(fd, path, opts.crid, opts.columnMemory, opts.decompress ?? lz4Decompress);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private constructor(
    fd: number,
    path: string,
    crid: bigint | undefined,
    private readonly columnMemory: ColumnMemory | undefined,
    private readonly decompress: Lz4Decoder,
  ) {
    this.fd = fd;
    this.path = path;
    this.ctx = { path, crid };
    const ctx = this.ctx;
    this.size = fstatSync(fd).size;
    checkPreamble(ctx, this.readAt(0, Math.min(PREAMBLE_SIZE, this.size), "preamble"));
    if (this.size < PREAMBLE_SIZE + FOOTER_SIZE) {
      throw new FormatError(ctx, this.size, "preamble, chunks and footer", `file has only ${this.size} bytes: truncated`);
    }
    const footOff = this.size - FOOTER_SIZE;
    const footer = decodeFooter(ctx, footOff, this.readAt(footOff, FOOTER_SIZE, "footer"));
    this.identity = footer.identity;
    if (footer.indexOffset < PREAMBLE_SIZE || footer.indexOffset >= footOff) {
      throw new FormatError(ctx, footOff, `INDEX offset within ${PREAMBLE_SIZE}..${footOff}`, `found ${footer.indexOffset}`);
    }
    const idx = this.readChunk(footer.indexOffset, ChunkType.INDEX, footOff);
    if (idx.bodyOffset + idx.head.bodyLength !== footOff) {
      throw new FormatError(ctx, footer.indexOffset, "INDEX as the last chunk before the footer");
    }
    this.chunks = decodeMeta(ctx, footer.indexOffset, IndexSchema, idx.meta, "INDEX").chunks;
    this.checkIndex(footer.indexOffset);

    const h = this.readChunk(PREAMBLE_SIZE, ChunkType.HEADER);
    const header = decodeMeta(ctx, PREAMBLE_SIZE, HeaderSchema, h.meta, "HEADER");
    checkHeader(ctx, PREAMBLE_SIZE + CHUNK_HEAD_SIZE, header);
    if (crid !== undefined && crid !== header.crid) {
      throw new FormatError(ctx, PREAMBLE_SIZE + CHUNK_HEAD_SIZE, `CRID ${crid} in HEADER`, `found ${header.crid}`);
    }
    this.header = header;
    ctx.crid = header.crid;
    const refOff = this.chunks[1]!.offset;
    const r = this.readChunk(refOff, ChunkType.REFERENCES);
    this.references = decodeMeta(ctx, refOff, ReferencesSchema, r.meta, "REFERENCES").images;
  }

  /** Index sanity: order rules, ascending offsets, extents that tile the file. */
  private checkIndex(indexOffset: number): void {
    const c = this.chunks;
    const order = orderStart();
    for (let i = 0; i < c.length; i++) {
      const e = c[i]!;
      const known = chunkTypeInfo(e.type) !== undefined;
      const next = i + 1 < c.length ? c[i + 1]!.offset : indexOffset;
      const at = indexOffset + CHUNK_HEAD_SIZE + 4 + i * 32;
      if (i === 0 && e.offset !== PREAMBLE_SIZE) throw new FormatError(this.ctx, at, `INDEX entry 0 at offset ${PREAMBLE_SIZE}`);
      if (next <= e.offset) throw new FormatError(this.ctx, at, `INDEX entry ${i}: ascending chunk offsets`);
      if (e.type === ChunkType.INDEX) throw new FormatError(this.ctx, at, `INDEX entry ${i}: no INDEX inside the index`);
      if (!known && !(e.flags & 1)) {
        throw new FormatError(this.ctx, e.offset, `record type ${hex16(e.type)} at offset ${e.offset} is unknown to this cr`);
      }
      if (known) {
        const why = orderError(e.type, i, order);
        if (why) throw new FormatError(this.ctx, at, `INDEX entry ${i}: ${why}`);
      }
      if (e.type === ChunkType.MEMBER) this.sectionRanges.push([i, c.length]);
      this.ends.set(e.offset, next);
      this.indexByOffset.set(e.offset, e);
    }
    if (!order.pageMapSeen) throw new FormatError(this.ctx, indexOffset, "a PAGE_MAP chunk in the index");
    if (order.table && order.members === 0) throw new FormatError(this.ctx, indexOffset, "a MEMBER section after PROCESS_TABLE");
    if (this.sectionRanges.length === 0) this.sectionRanges.push([0, c.length]);
    for (let i = 0; i + 1 < this.sectionRanges.length; i++) this.sectionRanges[i]![1] = this.sectionRanges[i + 1]![0];
  }

  /**
   * From now on, raw page blocks read into a caller's 4096-aligned `into` bypass the page cache
   * (O_DIRECT): for large images, which are written that way too and are not in it. Other reads
   * still use it. False where the file system refuses O_DIRECT.
   */
  readAroundCache(): boolean {
    if (this.directFd !== undefined) return true;
    try {
      this.directFd = openSync(`/proc/self/fd/${this.fd}`, fsc.O_RDONLY | fsc.O_DIRECT);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "EINVAL") return false;
      throw e;
    }
  }

  /**
   * The page-aligned file range holding all of the raw PAGES chunk at `offset`, head to body:
   * read in one piece (O_DIRECT) and passed to readBlock as its span, the block costs one read
   * instead of two. Undefined for an LZ4 block (its end is not aligned). `bodyLength`: the
   * span's last bytes that are the block's body, if INDEX is right (for FileSpan.tailHash).
   */
  chunkSpan(offset: number): { start: number; length: number; bodyLength: number } | undefined {
    const b = this.indexByOffset.get(offset);
    const end = this.ends.get(offset);
    if (!b || b.type !== ChunkType.PAGES || b.codec !== 0 || end === undefined || end % DIRECT_ALIGN !== 0) return undefined;
    const start = offset - (offset % DIRECT_ALIGN);
    return { start, length: end - start, bodyLength: b.pages * this.header.pageSize };
  }

  /** Whether raw page blocks are read around the page cache (readAroundCache). */
  get readsAroundCache(): boolean {
    return this.directFd !== undefined;
  }

  /**
   * The descriptor raw page blocks are read from (owned by the reader), for reading chunk spans
   * yourself: the O_DIRECT one once readAroundCache is on, else the page-cache one.
   */
  get blockDescriptor(): number {
    return this.directFd ?? this.fd;
  }

  /** A raw block body: O_DIRECT when enabled and the buffer allows it (EINVAL: it does not). */
  private readPagesBody(pos: number, len: number, into: Uint8Array | undefined): Uint8Array {
    if (this.directFd === undefined || !into || pos % DIRECT_ALIGN !== 0 || len % DIRECT_ALIGN !== 0) return this.readAt(pos, len, "PAGES body", into);
    try {
      return this.readFrom(this.directFd, pos, len, "PAGES body", into);
    } catch (e) {
      if ((e as { code?: string }).code !== "EINVAL") throw e;
      return this.readAt(pos, len, "PAGES body", into);
    }
  }

  private readAt(pos: number, len: number, what: string, into?: Uint8Array): Uint8Array {
    return this.readFrom(this.fd, pos, len, what, into);
  }

  private readFrom(fd: number, pos: number, len: number, what: string, into?: Uint8Array): Uint8Array {
    if (this.closed) throw new Error(`image ${this.path} is closed`);
    const out = into ?? new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, out, got, len - got, pos + got);
      if (n === 0) throw new FormatError(this.ctx, pos + got, `${what}: ${len} bytes`, `file ends at offset ${pos + got}: truncated`);
      got += n;
    }
    return out;
  }

  /**
   * Reads and checks the chunk at `offset`: head hash, type as expected, and an extent that
   * ends exactly where the next chunk starts (`end`, from the index).
   */
  private readChunk(offset: number, type: number, end = this.ends.get(offset), span?: FileSpan): ChunkRead {
    const ctx = this.ctx;
    if (end === undefined) throw new FormatError(ctx, offset, `a chunk listed in INDEX at offset ${offset}`);
    if (end - offset < CHUNK_HEAD_SIZE + HEAD_HASH_SIZE) throw new FormatError(ctx, offset, "room for a chunk head");
    // One read for head + meta + head hash in the common case of a small meta.
    const first = fromSpan(span, offset, Math.min(end - offset, 4096)) ?? this.readAt(offset, Math.min(end - offset, 4096), "chunk head");
    const head = decodeChunkHead(ctx, offset, first.subarray(0, CHUNK_HEAD_SIZE));
    const hmLen = CHUNK_HEAD_SIZE + head.metaLength;
    if (head.metaLength > MAX_META_LENGTH || offset + hmLen + HEAD_HASH_SIZE > end) {
      throw new FormatError(ctx, offset + 4, `chunk meta within the chunk's ${end - offset} bytes (damaged chunk head?)`, `meta length ${head.metaLength}`);
    }
    const hmh = hmLen + HEAD_HASH_SIZE <= first.length ? first : this.readAt(offset, hmLen + HEAD_HASH_SIZE, "chunk meta");
    const stored = new DataView(hmh.buffer, hmh.byteOffset + hmLen, 8).getBigUint64(0, true);
    checkChunk(ctx, offset, head, hmh.subarray(0, hmLen), stored);
    const name = chunkTypeInfo(type)?.name ?? hex16(type);
    if (head.type !== type) throw new FormatError(ctx, offset, `a ${name} chunk`, `found type ${hex16(head.type)}`);
    const ie = this.indexByOffset.get(offset);
    if (ie && ie.flags !== head.flags) throw new FormatError(ctx, offset, `chunk flags ${hex16(ie.flags)} as in INDEX`, `found ${hex16(head.flags)}`);
    const bOff = bodyOffset(offset, head, this.header?.pageSize ?? 4096);
    if (bOff + head.bodyLength !== end) {
      throw new FormatError(ctx, offset + 8, `${name} chunk ending at offset ${end}`, `body of ${head.bodyLength} bytes at ${bOff} ends at ${bOff + head.bodyLength}`);
    }
    return { head, meta: hmh.slice(CHUNK_HEAD_SIZE, hmLen), bodyOffset: bOff };
  }

  private readBody(offset: number, c: ChunkRead, name: string): Uint8Array {
    if (c.head.bodyLength > MAX_BODY_IN_MEMORY) {
      throw new FormatError(this.ctx, offset + 8, `${name} body of at most ${MAX_BODY_IN_MEMORY} bytes`, `found ${c.head.bodyLength}`);
    }
    const body = this.readAt(c.bodyOffset, c.head.bodyLength, `${name} body`);
    checkBodyHash(this.ctx, offset, name, body, c.head.bodyHash);
    return body;
  }

  /** The file's bytes from `pos`, as they are (unchecked), into all of `into`: to copy the file whole (cr export). */
  readBytes(pos: number, into: Uint8Array): Uint8Array {
    return this.readAt(pos, into.byteLength, "bytes", into);
  }

  /** Every record of one type, in file order (of every process of a tree image). */
  records<K extends RecordTypeName>(type: K): RecordTypes[K][] {
    return this.recordsIn(type, 0, this.chunks.length);
  }

  /** The one record of a type (the first, if several: the root's in a tree image), or undefined. */
  record<K extends RecordTypeName>(type: K): RecordTypes[K] | undefined {
    return this.records(type)[0];
  }

  /** Every record of one type among chunks [from, to), in file order. */
  recordsIn<K extends RecordTypeName>(type: K, from: number, to: number): RecordTypes[K][] {
    const t = ChunkType[type];
    const info = chunkTypeInfo(t)!;
    const out: RecordTypes[K][] = [];
    for (let i = from; i < to; i++) {
      const e = this.chunks[i]!;
      if (e.type !== t) continue;
      const c = this.readChunk(e.offset, t);
      out.push(decodeMeta(this.ctx, e.offset, info.schema, c.meta, type) as RecordTypes[K]);
    }
    return out;
  }

  /** The tree's processes (PROCESS_TABLE), or undefined for an image of one process. */
  processTable(): ProcessTableRecord | undefined {
    return this.record("PROCESS_TABLE");
  }

  /**
   * One section per running process (MEMBER), in PROCESS_TABLE order, which is the file's order
   * in images written since cr kept it so (older ones hold a member found late by the freeze
   * last); an image of one process is one section.
   */
  sections(): ImageSection[] {
    this.ordered ??= this.inTableOrder(this.sectionRanges.map(([from, to], i) => new ImageSection(this, i, from, to)));
    return [...this.ordered];
  }

  private inTableOrder(inFile: ImageSection[]): ImageSection[] {
    const running = this.processTable()?.processes.filter((p) => p.state === MemberState.RUNNING);
    if (!running) return inFile;
    const place = new Map(running.map((p, i) => [p.pid, i]));
    return inFile.sort((a, b) => (place.get(a.pid!) ?? running.length) - (place.get(b.pid!) ?? running.length));
  }

  /** The CRIDs the page map's holder indexes name (pagemap-columns.ts): the references', then this image's. */
  get holderCrids(): bigint[] {
    return imageHolders(this.references, this.header.crid);
  }

  /** The page map of the first (the root's) section as objects; every DATA entry is checked against its PAGES block. */
  pageMap(): PageMapEntry[] {
    return this.pageMapIn(0);
  }

  /** The same map as columns (pagemap-columns.ts), for the readers of a deep chain's large maps. */
  pageColumns(): PageColumns {
    return this.pageColumnsIn(0);
  }

  /** File offset of entry `i` of the first section's page map (for error messages about it). */
  pageMapEntryOffset(i: number): number {
    return this.pageMapEntryOffsetIn(0, i);
  }

  /** Section `section`'s page map, as objects. */
  pageMapIn(section: number): PageMapEntry[] {
    const m = this.mapOf(section);
    m.entries ??= columnEntries(m.columns, this.holderCrids, this.header.pageSize);
    return m.entries;
  }

  /** Section `section`'s page map, as columns. */
  pageColumnsIn(section: number): PageColumns {
    return this.mapOf(section).columns;
  }

  /** File offset of entry `i` of section `section`'s page map. */
  pageMapEntryOffsetIn(section: number, i: number): number {
    return this.mapOf(section).offsets[i]!;
  }

  private mapOf(section: number): SectionMap {
    const hit = this.maps.get(section);
    if (hit) return hit;
    const [from, to] = this.sectionRanges[section] ?? [0, 0];
    const e = this.chunks.slice(from, to).find((c) => c.type === ChunkType.PAGE_MAP);
    if (!e) throw new RangeError(`image ${this.path} has no section ${section}`);
    const c = this.readChunk(e.offset, ChunkType.PAGE_MAP);
    const body = this.readBody(e.offset, c, "PAGE_MAP");
    const { columns, offsets } = decodePageMapBody(this.ctx, e.offset, c.meta, body, c.bodyOffset, this.header.pageSize, this.references, this.columnMemory);
    checkDataEntries(this.ctx, columns, offsets, (block) => this.blockPages(block));
    const map: SectionMap = { columns, offsets };
    this.maps.set(section, map);
    return map;
  }

  /** The PAGES blocks listed in INDEX (unchecked until read). */
  blocks(): { offset: number; vaddr: bigint; pages: number; codec: number }[] {
    return this.chunks.filter((c) => c.type === ChunkType.PAGES).map((c) => ({ offset: c.offset, vaddr: c.vaddr, pages: c.pages, codec: c.codec }));
  }

  /** Bytes the chunk listed in INDEX at `offset` takes in the file: from its head to the next chunk. */
  chunkBytes(offset: number): number {
    const end = this.ends.get(offset);
    if (end === undefined) throw new FormatError(this.ctx, offset, `a chunk listed in INDEX at offset ${offset}`);
    return end - offset;
  }

  /** Whether `offset` is a PAGES chunk of this image, and its page count. */
  blockPages(offset: number): number | undefined {
    const e = this.indexByOffset.get(offset);
    return e && e.type === ChunkType.PAGES ? e.pages : undefined;
  }

  /** The checked location of a PAGES block (head hash and meta checked, body not yet). */
  block(offset: number, span?: FileSpan): PagesBlock {
    const hit = this.blockInfo.get(offset);
    if (hit) return hit;
    const e = this.indexByOffset.get(offset);
    if (!e || e.type !== ChunkType.PAGES) throw new FormatError(this.ctx, offset, `a PAGES chunk at offset ${offset}`);
    const c = this.readChunk(offset, ChunkType.PAGES, undefined, span);
    const m = checkPagesMeta(this.ctx, offset, c.meta, c.head.bodyLength, this.header.pageSize);
    if (m.pages !== e.pages || m.codec !== e.codec || m.vaddr !== e.vaddr) {
      throw new FormatError(this.ctx, offset + CHUNK_HEAD_SIZE, "PAGES meta as listed in INDEX");
    }
    const b: PagesBlock = { offset, vaddr: m.vaddr, pages: m.pages, codec: m.codec, bodyOffset: c.bodyOffset, bodyLength: c.head.bodyLength, bodyHash: c.head.bodyHash };
    this.blockInfo.set(offset, b);
    return b;
  }

  /**
   * All pages of a block, decoded, after checking its body hash: into `into` when given
   * (at least pages x pageSize bytes; the result is a view of it), else a fresh buffer.
   */
  readBlock(offset: number, into?: Uint8Array, span?: FileSpan): Uint8Array {
    const b = this.block(offset, span);
    const raw = b.pages * this.header.pageSize;
    if (into && into.byteLength < raw) throw new RangeError(`readBlock: buffer of ${into.byteLength} bytes, block has ${raw}`);
    const dst = into?.subarray(0, raw);
    if (b.codec === 0) {
      const body = fromSpan(span, b.bodyOffset, b.bodyLength, dst) ?? this.readPagesBody(b.bodyOffset, b.bodyLength, dst);
      checkBodyHash(this.ctx, offset, "PAGES", body, b.bodyHash, hashOfTail(span, b));
      return body;
    }
    const body = this.readAt(b.bodyOffset, b.bodyLength, "PAGES body");
    checkBodyHash(this.ctx, offset, "PAGES", body, b.bodyHash);
    return decodePagesBody(this.ctx, b.bodyOffset, b.codec, body, dst ?? new Uint8Array(raw), this.decompress);
  }

  /** Pages [firstPage, firstPage+count) of the block at `blockOffset`, checked. A fresh buffer. */
  readPages(blockOffset: number, firstPage: number, count: number): Uint8Array {
    const b = this.block(blockOffset);
    if (!Number.isInteger(firstPage) || !Number.isInteger(count) || firstPage < 0 || count < 0 || firstPage + count > b.pages) {
      throw new FormatError(this.ctx, blockOffset, `pages ${firstPage}..${firstPage + count} within the block's ${b.pages}`);
    }
    let data: Uint8Array;
    if (this.cache?.offset === blockOffset) data = this.cache.data;
    else {
      data = this.readBlock(blockOffset);
      this.cache = { offset: blockOffset, data };
    }
    const ps = this.header.pageSize;
    return data.slice(firstPage * ps, (firstPage + count) * ps);
  }

  /**
   * Full sequential pass: every hash, the chunk order, INDEX, and the identity. `onBytes`: the
   * bytes read so far, after each PAGES block.
   */
  async verify(onBytes?: (bytes: number) => void): Promise<VerifyResult> {
    const src = new FdSource({ path: this.path, crid: this.header.crid }, this.fd);
    let chunks = 0;
    let pages = 0;
    for await (const ev of parseImage(src, { pageData: false, decompress: this.decompress })) {
      chunks++;
      if (ev.kind === "pages") {
        pages += ev.pages;
        onBytes?.(src.position);
      }
      if (ev.kind === "end") {
        if (ev.bytes !== this.size) throw new FormatError(this.ctx, ev.bytes, `end of file after the footer`, `file has ${this.size} bytes`);
        return { identity: ev.identity, bytes: ev.bytes, chunks, pages };
      }
    }
    throw new FormatError(this.ctx, src.position, "a complete image");
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      closeSync(this.fd);
      if (this.directFd !== undefined) closeSync(this.directFd);
    }
  }
}

/** Full sequential verification of an image file, without the random-access open. */
export async function verifyImageFile(path: string, opts: { crid?: bigint } = {}): Promise<VerifyResult> {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const src = new FdSource({ path, crid: opts.crid }, fd);
    let chunks = 0;
    let pages = 0;
    for await (const ev of parseImage(src, { pageData: false })) {
      chunks++;
      if (ev.kind === "pages") pages += ev.pages;
      if (ev.kind === "end") {
        if (ev.bytes !== size) throw new FormatError(src.ctx, ev.bytes, "end of file after the footer", `file has ${size} bytes`);
        return { identity: ev.identity, bytes: ev.bytes, chunks, pages };
      }
    }
    throw new FormatError(src.ctx, src.position, "a complete image");
  } finally {
    closeSync(fd);
  }
}

/** The chunks of one process of an image: a MEMBER section of a tree image, or the whole image of one process. */
export class ImageSection {
  constructor(
    readonly image: ImageReader,
    /** Its place in the file among the image's sections. */
    readonly index: number,
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** The process's pid: its MEMBER's, else its PROCESS record's. */
  get pid(): number | undefined {
    return this.record("MEMBER")?.pid ?? this.record("PROCESS")?.pid;
  }

  records<K extends RecordTypeName>(type: K): RecordTypes[K][] {
    return this.image.recordsIn(type, this.from, this.to);
  }

  record<K extends RecordTypeName>(type: K): RecordTypes[K] | undefined {
    return this.records(type)[0];
  }

  pageMap(): PageMapEntry[] {
    return this.image.pageMapIn(this.index);
  }

  pageColumns(): PageColumns {
    return this.image.pageColumnsIn(this.index);
  }

  pageMapEntryOffset(i: number): number {
    return this.image.pageMapEntryOffsetIn(this.index, i);
  }
}

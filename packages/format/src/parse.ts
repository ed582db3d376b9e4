/**
 * The one-pass parser: reads an image front to back from any ByteSource, checking every
 * hash, the chunk order, the INDEX against the chunks actually seen, and the identity
 * against the footer. Used by readImageStream (pipes) and ImageReader.verify (files).
 */
import type { Readable } from "node:stream";
import { FormatError, type FormatErrorContext, hex64 } from "./errors.js";
import {
  bodyOffset,
  CHUNK_HEAD_SIZE,
  checkChunk,
  checkPreamble,
  decodeChunkHead,
  decodeFooter,
  failAt,
  FOOTER_SIZE,
  HEAD_HASH_SIZE,
  identityPair,
  MAX_BODY_IN_MEMORY,
  MAX_META_LENGTH,
  PREAMBLE_SIZE,
} from "./framing.js";
import { createXxh64, xxh64 } from "./hash.js";
import { lz4Bound, lz4Decompress, Lz4Error } from "./lz4.js";
import { PageSource, type PageMapEntry } from "./pagemap.js";
import { type ColumnMemory, columnEntries, imageHolders, type PageColumns } from "./pagemap-columns.js";
import { decodePageMapColumns } from "./pagemap-codec.js";
import {
  ChunkType,
  chunkTypeInfo,
  type Header,
  HeaderSchema,
  ImageKind,
  type IndexEntry,
  IndexSchema,
  PageCodec,
  PageMapMetaSchema,
  PagesMetaSchema,
  type RecordTypeName,
  type RecordTypes,
  type Reference,
  ReferencesSchema,
} from "./records.js";
import { decode, type Schema } from "./schema.js";
import { type ByteSource, StreamSource } from "./source.js";

export type ImageEvent =
  | { kind: "header"; offset: number; header: Header }
  | { kind: "references"; offset: number; references: Reference[] }
  | { [K in RecordTypeName]: { kind: "record"; offset: number; type: K; value: RecordTypes[K] } }[RecordTypeName]
  | { kind: "pages"; offset: number; vaddr: bigint; pages: number; codec: PageCodec; data: Uint8Array }
  | { kind: "pageMap"; offset: number; entries: PageMapEntry[] }
  | { kind: "unknown"; offset: number; type: number }
  | { kind: "end"; offset: number; identity: bigint; bytes: number };

export interface ParseOptions {
  /** Decode and hand out page data (default true). verify() only checks it. */
  pageData?: boolean;
  /** The LZ4 block decoder (default lz4Decompress). */
  decompress?: Lz4Decoder;
}

/**
 * Decodes one LZ4 block under lz4Decompress's contract: `dst` filled exactly, Lz4Error on a
 * malformed block. cr passes the reference library's, ~10x faster than this package's.
 */
export type Lz4Decoder = (src: Uint8Array, dst: Uint8Array) => void;

/** Checks header fields that the rest of the format depends on. */
export function checkHeader(ctx: FormatErrorContext, offset: number, h: Header): void {
  const ps = h.pageSize;
  if (ps < 4096 || ps > 1 << 20 || (ps & (ps - 1)) !== 0) {
    throw new FormatError(ctx, offset, `page size a power of two in 4096..1048576`, `found ${ps}`);
  }
  if (h.crid === 0n) throw new FormatError(ctx, offset, "a non-zero CRID in HEADER");
  const kind = h.parentCrid === 0n ? ImageKind.FULL : ImageKind.INCREMENTAL;
  if (h.kind !== kind) throw new FormatError(ctx, offset, `kind ${kind} for parent CRID ${h.parentCrid}`, `found ${h.kind}`);
}

/** Decodes one meta with its schema; errors name the absolute offset within the meta. */
export function decodeMeta<T>(ctx: FormatErrorContext, chunkOffset: number, schema: Schema<T>, meta: Uint8Array, name: string): T {
  return decode(schema, meta, failAt(ctx, chunkOffset + CHUNK_HEAD_SIZE, `${name} meta`));
}

/**
 * Decodes and validates PAGE_MAP's body (without checking block references): its columns, and
 * the file offset where each entry starts (for error messages about one of them).
 */
export function decodePageMapBody(
  ctx: FormatErrorContext,
  chunkOffset: number,
  meta: Uint8Array,
  body: Uint8Array,
  bodyOff: number,
  pageSize: number,
  references: readonly Reference[],
  memory?: ColumnMemory,
): { columns: PageColumns; offsets: Float64Array } {
  const m = decodeMeta(ctx, chunkOffset, PageMapMetaSchema, meta, "PAGE_MAP");
  const fail = (at: number, what: string): never => {
    throw new FormatError(ctx, bodyOff + at, `page map: ${what}`);
  };
  const { columns, offsets, totalPages } = decodePageMapColumns(body, m.entryCount, references, pageSize, fail, memory);
  if (totalPages !== m.totalPages) throw new FormatError(ctx, chunkOffset, `page map total of ${m.totalPages} pages`, `entries sum to ${totalPages}`);
  for (let i = 0; i < offsets.length; i++) offsets[i] += bodyOff;
  return { columns, offsets };
}

/** Checks every DATA entry against the PAGES blocks of its image (`blockPages`: pages of the block at an offset). */
export function checkDataEntries(ctx: FormatErrorContext, c: PageColumns, offsets: ArrayLike<number>, blockPages: (offset: number) => number | undefined): void {
  for (let i = 0; i < c.length; i++) {
    if (c.source[i] !== PageSource.DATA) continue;
    const have = blockPages(c.block[i]!);
    if (have === undefined) throw new FormatError(ctx, offsets[i]!, `page map entry ${i}: a PAGES chunk at offset ${c.block[i]}`);
    const end = c.firstPage[i]! + c.pages[i]!;
    if (end > have) throw new FormatError(ctx, offsets[i]!, `page map entry ${i}: pages ${c.firstPage[i]}..${end} within the block's ${have}`);
  }
}

/** Checks a PAGES meta against its chunk; returns it. */
export function checkPagesMeta(
  ctx: FormatErrorContext,
  offset: number,
  metaBytes: Uint8Array,
  bodyLength: number,
  pageSize: number,
): { vaddr: bigint; pages: number; codec: PageCodec; rawLength: number } {
  const m = decodeMeta(ctx, offset, PagesMetaSchema, metaBytes, "PAGES");
  if (m.pages === 0 || m.rawLength !== m.pages * pageSize) {
    throw new FormatError(ctx, offset, `PAGES raw length = pages x page size (${m.pages} x ${pageSize})`, `found ${m.rawLength}`);
  }
  if (m.codec === PageCodec.RAW) {
    if (bodyLength !== m.rawLength) throw new FormatError(ctx, offset, `raw PAGES body of ${m.rawLength} bytes`, `found ${bodyLength}`);
  } else if (m.codec === PageCodec.LZ4) {
    if (bodyLength === 0 || bodyLength > lz4Bound(m.rawLength)) {
      throw new FormatError(ctx, offset, `LZ4 PAGES body of 1..${lz4Bound(m.rawLength)} bytes`, `found ${bodyLength}`);
    }
  } else {
    throw new FormatError(ctx, offset, "PAGES codec 0 (raw) or 1 (lz4)", `found ${m.codec}`);
  }
  return { vaddr: m.vaddr, pages: m.pages, codec: m.codec as PageCodec, rawLength: m.rawLength };
}

/** Checks a body's hash and decodes a PAGES body into `out` (rawLength bytes). */
export function decodePagesBody(
  ctx: FormatErrorContext,
  bodyOff: number,
  codec: PageCodec,
  body: Uint8Array,
  out: Uint8Array | undefined,
  decompress: Lz4Decoder = lz4Decompress,
): Uint8Array {
  if (codec === PageCodec.RAW) {
    if (out) {
      out.set(body);
      return out;
    }
    return body;
  }
  const dst = out ?? new Uint8Array(0);
  try {
    decompress(body, dst);
  } catch (e) {
    if (e instanceof Lz4Error) throw new FormatError(ctx, bodyOff + e.at, `valid LZ4 block: ${e.message}`);
    throw e;
  }
  return dst;
}

/** `known`: the body's hash as its reader already computed it (see FileSpan.tailHash). */
export function checkBodyHash(ctx: FormatErrorContext, chunkOffset: number, name: string, body: Uint8Array, expected: bigint, known?: bigint): void {
  const h = known ?? (body.byteLength === 0 ? 0n : xxh64(body));
  if (h !== expected) {
    throw new FormatError(ctx, chunkOffset, `${name} body hash mismatch (expected ${hex64(expected)}, found ${hex64(h)})`);
  }
}

/**
 * Where a reader is in the chunk order: a tree image (PROCESS_TABLE third) is made of MEMBER
 * sections, each with its own PAGE_MAP after its PAGES; an image of one process is one section.
 */
export interface OrderState {
  table: boolean;
  members: number;
  pageMapSeen: boolean;
}

export function orderStart(): OrderState {
  return { table: false, members: 0, pageMapSeen: false };
}

/** Validates the chunk order rules; `before`: how many chunks come before this one. Advances `state`. */
function orderError(type: number, before: number, state: OrderState): string | undefined {
  const why = orderProblem(type, before, state);
  if (why) return why;
  if (type === ChunkType.PROCESS_TABLE) state.table = true;
  if (type === ChunkType.MEMBER) {
    state.members++;
    state.pageMapSeen = false;
  }
  if (type === ChunkType.PAGE_MAP) state.pageMapSeen = true;
  return undefined;
}

function orderProblem(type: number, before: number, state: OrderState): string | undefined {
  if (before === 0) return type === ChunkType.HEADER ? undefined : "HEADER as the first chunk";
  if (before === 1) return type === ChunkType.REFERENCES ? undefined : "REFERENCES as the second chunk";
  if (type === ChunkType.HEADER || type === ChunkType.REFERENCES) return "a single HEADER and REFERENCES";
  if (type === ChunkType.PROCESS_TABLE) return before === 2 ? undefined : "PROCESS_TABLE as the third chunk";
  if (type === ChunkType.MEMBER) {
    if (!state.table) return "a PROCESS_TABLE before any MEMBER";
    if (state.members === 0) return before === 3 ? undefined : "the first MEMBER right after PROCESS_TABLE";
    return state.pageMapSeen ? undefined : "a PAGE_MAP ending each MEMBER section";
  }
  if (state.table && state.members === 0) return "a MEMBER right after PROCESS_TABLE";
  if (type === ChunkType.PAGES && state.pageMapSeen) return "every PAGES chunk before PAGE_MAP";
  if (type === ChunkType.PAGE_MAP && state.pageMapSeen) return "a single PAGE_MAP";
  if (type === ChunkType.INDEX && !state.pageMapSeen) return "a PAGE_MAP before INDEX";
  return undefined;
}
export { orderError };

function sameIndex(a: IndexEntry[], b: IndexEntry[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y || x.type !== y.type || x.flags !== y.flags || x.offset !== y.offset || x.vaddr !== y.vaddr || x.pages !== y.pages || x.codec !== y.codec || x.reserved !== 0 || x.reserved2 !== 0 || x.reserved3 !== 0) return i;
  }
  return -1;
}

/** Parses a whole image from `src`, yielding its content in file order. */
export async function* parseImage(src: ByteSource, opts: ParseOptions = {}): AsyncGenerator<ImageEvent> {
  const ctx = src.ctx;
  const wantData = opts.pageData ?? true;
  const pre = await src.read(PREAMBLE_SIZE, "preamble");
  checkPreamble(ctx, pre);
  const identity = createXxh64();
  identity.update(pre);
  let header: Header | undefined;
  let references: Reference[] = [];
  const seen: IndexEntry[] = [];
  const blocks = new Map<number, number>();
  const order = orderStart();
  let scratch = new Uint8Array(0);

  for (;;) {
    const offset = src.position;
    const headBytes = await src.read(CHUNK_HEAD_SIZE, "chunk head");
    const head = decodeChunkHead(ctx, offset, headBytes.slice());
    if (head.metaLength > MAX_META_LENGTH) {
      throw new FormatError(ctx, offset + 4, `chunk meta length <= ${MAX_META_LENGTH} (damaged chunk head?)`, `found ${head.metaLength}`);
    }
    const hm = new Uint8Array(CHUNK_HEAD_SIZE + head.metaLength);
    hm.set(headBytes);
    hm.set(await src.read(head.metaLength, "chunk meta"), CHUNK_HEAD_SIZE);
    const hh = await src.read(HEAD_HASH_SIZE, "chunk head hash");
    const storedHeadHash = new DataView(hh.buffer, hh.byteOffset, 8).getBigUint64(0, true);
    const known = checkChunk(ctx, offset, head, hm, storedHeadHash);
    const meta = hm.subarray(CHUNK_HEAD_SIZE);
    const info = chunkTypeInfo(head.type);
    const name = info?.name ?? "unknown";

    if (known) {
      const why = orderError(head.type, seen.length, order);
      if (why) throw new FormatError(ctx, offset, `${why} (found ${name})`);
    }
    // Alignment padding (covered by no hash): must be zeros.
    const bOff = bodyOffset(offset, head, header?.pageSize ?? 4096);
    if (bOff > src.position) {
      if (!header) throw new FormatError(ctx, offset, "no ALIGNED chunk before HEADER");
      const pad = await src.read(bOff - src.position, "alignment padding");
      for (let i = 0; i < pad.length; i++) {
        if (pad[i] !== 0) throw new FormatError(ctx, bOff - pad.length + i, "zero alignment padding");
      }
    }

    if (head.type === ChunkType.INDEX && known) {
      if (head.bodyLength !== 0) throw new FormatError(ctx, offset + 8, "empty INDEX body", `found ${head.bodyLength} bytes`);
      const idx = decodeMeta(ctx, offset, IndexSchema, meta, "INDEX");
      const bad = sameIndex(idx.chunks, seen);
      if (bad >= 0) throw new FormatError(ctx, offset + CHUNK_HEAD_SIZE, `INDEX entry ${bad} to match chunk ${bad} of the file`);
      identity.update(identityPair(storedHeadHash, 0n));
      const id = identity.digest();
      const footOff = src.position;
      const footer = decodeFooter(ctx, footOff, (await src.read(FOOTER_SIZE, "footer")).slice());
      if (footer.indexOffset !== offset) throw new FormatError(ctx, footOff, `footer index offset ${offset}`, `found ${footer.indexOffset}`);
      if (footer.identity !== id) {
        throw new FormatError(ctx, footOff + 8, `identity mismatch (expected ${hex64(footer.identity)}, found ${hex64(id)})`);
      }
      yield { kind: "end", offset: footOff, identity: id, bytes: src.position };
      return;
    }

    if (head.bodyLength > MAX_BODY_IN_MEMORY && known) {
      throw new FormatError(ctx, offset + 8, `${name} body of at most ${MAX_BODY_IN_MEMORY} bytes`, `found ${head.bodyLength}`);
    }
    let pagesMeta: ReturnType<typeof checkPagesMeta> | undefined;
    if (head.type === ChunkType.PAGES && known) pagesMeta = checkPagesMeta(ctx, offset, meta, head.bodyLength, header!.pageSize);

    // Body: hashed; unknown chunks' bodies are hashed in pieces and dropped.
    let body: Uint8Array;
    if (!known) {
      const h = createXxh64();
      let left = head.bodyLength;
      while (left > 0) {
        const k = Math.min(left, 4 << 20);
        h.update(await src.read(k, "chunk body"));
        left -= k;
      }
      const got = head.bodyLength === 0 ? 0n : h.digest();
      if (got !== head.bodyHash) {
        throw new FormatError(ctx, offset, `chunk body hash mismatch (expected ${hex64(head.bodyHash)}, found ${hex64(got)})`);
      }
      body = new Uint8Array(0);
    } else {
      body = await src.read(head.bodyLength, `${name} body`);
      checkBodyHash(ctx, offset, name, body, head.bodyHash);
    }
    identity.update(identityPair(storedHeadHash, head.bodyHash));
    const entry: IndexEntry = {
      type: head.type,
      flags: head.flags,
      reserved: 0,
      offset,
      vaddr: pagesMeta?.vaddr ?? 0n,
      pages: pagesMeta?.pages ?? 0,
      codec: pagesMeta?.codec ?? 0,
      reserved2: 0,
      reserved3: 0,
    };
    seen.push(entry);
    if (!known) {
      yield { kind: "unknown", offset, type: head.type };
      continue;
    }

    switch (head.type) {
      case ChunkType.HEADER: {
        header = decodeMeta(ctx, offset, HeaderSchema, meta, "HEADER");
        checkHeader(ctx, offset + CHUNK_HEAD_SIZE, header);
        if (ctx.crid !== undefined && ctx.crid !== header.crid) {
          throw new FormatError(ctx, offset + CHUNK_HEAD_SIZE, `CRID ${ctx.crid} in HEADER`, `found ${header.crid}`);
        }
        ctx.crid = header.crid;
        yield { kind: "header", offset, header };
        break;
      }
      case ChunkType.REFERENCES: {
        references = decodeMeta(ctx, offset, ReferencesSchema, meta, "REFERENCES").images;
        yield { kind: "references", offset, references };
        break;
      }
      case ChunkType.PAGES: {
        const pm = pagesMeta!;
        blocks.set(offset, pm.pages);
        let data: Uint8Array;
        if (wantData) {
          data = decodePagesBody(ctx, bOff, pm.codec, body, new Uint8Array(pm.rawLength), opts.decompress);
        } else {
          if (pm.codec === PageCodec.LZ4) {
            if (scratch.byteLength < pm.rawLength) scratch = new Uint8Array(pm.rawLength);
            decodePagesBody(ctx, bOff, pm.codec, body, scratch.subarray(0, pm.rawLength), opts.decompress);
          }
          data = new Uint8Array(0);
        }
        yield { kind: "pages", offset, vaddr: pm.vaddr, pages: pm.pages, codec: pm.codec, data };
        break;
      }
      case ChunkType.PAGE_MAP: {
        const { columns, offsets } = decodePageMapBody(ctx, offset, meta, body, bOff, header!.pageSize, references);
        checkDataEntries(ctx, columns, offsets, (block) => blocks.get(block));
        yield { kind: "pageMap", offset, entries: columnEntries(columns, imageHolders(references, header!.crid), header!.pageSize) };
        break;
      }
      default: {
        const value = decodeMeta(ctx, offset, info!.schema, meta, name);
        yield { kind: "record", offset, type: name as RecordTypeName, value } as ImageEvent;
      }
    }
  }
}

/**
 * Reads an image sequentially from a pipe, socket or any Readable, checking everything as
 * it goes (hashes, order, INDEX, identity). Yields header, references, records, pages (with
 * decoded data) and the page map in file order, then "end" with the identity. Data read
 * before a damaged spot is yielded before the FormatError is thrown: a consumer that must
 * not act on a partial image waits for "end".
 */
export async function* readImageStream(
  readable: Readable | AsyncIterable<Uint8Array>,
  opts: { path?: string; crid?: bigint } = {},
): AsyncGenerator<ImageEvent> {
  const src = new StreamSource({ path: opts.path ?? "<stream>", crid: opts.crid }, readable);
  try {
    yield* parseImage(src);
  } finally {
    await src.close();
  }
}

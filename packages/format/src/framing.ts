/**
 * The framing of an image file: preamble, chunk head, footer. Shared by the writer and
 * both readers so each byte position is written down once.
 */
import { FormatError, type FormatErrorContext, hex16, hex64 } from "./errors.js";
import { xxh64 } from "./hash.js";
import { chunkTypeInfo, ChunkFlags } from "./records.js";
import { decode, doc, encode, fixedBytes, type Infer, struct, u16, u32, u64, u64n } from "./schema.js";

export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 1;
export const MAGIC = new Uint8Array([0x43, 0x52, 0x49, 0x4d, 0x47, 0x00, 0x0d, 0x0a]); // "CRIMG\0\r\n"
export const END_MAGIC = new Uint8Array([0x43, 0x52, 0x45, 0x4e, 0x44, 0x00, 0x0d, 0x0a]); // "CREND\0\r\n"

export const PreambleSchema = struct("preamble", {
  magic: doc(fixedBytes(8), '"CRIMG\\0\\r\\n" = 43 52 49 4d 47 00 0d 0a'),
  major: doc(u16, "format major version (1); a reader refuses a larger one"),
  minor: doc(u16, "format minor version (1); additions a reader of an older minor refuses or skips with a clear reason"),
  reserved: doc(u32, "0"),
});
export const PREAMBLE_SIZE = 16;

export const ChunkHeadSchema = struct("chunk head", {
  type: doc(u16, "chunk type (registry)"),
  flags: doc(u16, "bit 0 OPTIONAL, bit 1 ALIGNED, others 0"),
  metaLength: doc(u32, "length of the meta that follows"),
  bodyLength: doc(u64n, "length of the body"),
  bodyHash: doc(u64, "xxh64 of the body; 0 when the body is empty"),
});
export type ChunkHead = Infer<typeof ChunkHeadSchema>;
export const CHUNK_HEAD_SIZE = 24;
export const HEAD_HASH_SIZE = 8;

export const FooterSchema = struct("footer", {
  indexOffset: doc(u64n, "offset of the INDEX chunk"),
  identity: doc(u64, "identity of the image"),
  footerHash: doc(u64, "xxh64 of the 16 bytes before it"),
  endMagic: doc(fixedBytes(8), '"CREND\\0\\r\\n" = 43 52 45 4e 44 00 0d 0a'),
});
export type Footer = Infer<typeof FooterSchema>;
export const FOOTER_SIZE = 32;

/** Largest meta a reader accepts (INDEX of ~8 M chunks). */
export const MAX_META_LENGTH = 256 << 20;
/** Largest body a reader loads into memory at once. */
export const MAX_BODY_IN_MEMORY = 1 << 30;
export const KNOWN_FLAGS = ChunkFlags.OPTIONAL | ChunkFlags.ALIGNED;

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function encodePreamble(): Uint8Array {
  return encode(PreambleSchema, { magic: MAGIC, major: FORMAT_MAJOR, minor: FORMAT_MINOR, reserved: 0 });
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fails at `base + at` within the context: the fail callback of ByteReader. */
export function failAt(ctx: FormatErrorContext, base: number, what: string): (expected: string, at: number) => never {
  return (expected, at) => {
    throw new FormatError(ctx, base + at, `${what}: ${expected}`);
  };
}

/** Checks the 16-byte preamble: magic, then the major version before anything else. */
export function checkPreamble(ctx: FormatErrorContext, bytes: Uint8Array): void {
  if (bytes.length < PREAMBLE_SIZE) {
    throw new FormatError(ctx, bytes.length, `a ${PREAMBLE_SIZE}-byte preamble`, `file has ${bytes.length} bytes`);
  }
  const p = decode(PreambleSchema, bytes.subarray(0, PREAMBLE_SIZE), failAt(ctx, 0, "preamble"));
  if (!sameBytes(p.magic, MAGIC)) throw new FormatError(ctx, 0, 'magic "CRIMG\\0\\r\\n": not a cr image');
  if (p.major > FORMAT_MAJOR) {
    throw new FormatError(ctx, 8, `image format ${p.major}.x is newer than this cr (reads ${FORMAT_MAJOR}.x); upgrade cr`);
  }
  if (p.major < FORMAT_MAJOR) throw new FormatError(ctx, 8, `format major version ${FORMAT_MAJOR}`, `found ${p.major}`);
  if (p.reserved !== 0) throw new FormatError(ctx, 12, "reserved preamble field 0", `found ${p.reserved}`);
}

/** Decodes the fixed 24-byte head; lengths are not trusted until the head hash is checked. */
export function decodeChunkHead(ctx: FormatErrorContext, offset: number, bytes: Uint8Array): ChunkHead {
  return decode(ChunkHeadSchema, bytes, failAt(ctx, offset, "chunk head"));
}

/**
 * Checks the head hash over head+meta (`headAndMeta`), then the flags and the type.
 * Returns false for an unknown OPTIONAL type (skip it), throws for an unknown required one.
 */
export function checkChunk(
  ctx: FormatErrorContext,
  offset: number,
  head: ChunkHead,
  headAndMeta: Uint8Array,
  storedHeadHash: bigint,
): boolean {
  const h = xxh64(headAndMeta);
  if (h !== storedHeadHash) {
    throw new FormatError(ctx, offset, `chunk head hash mismatch (expected ${hex64(storedHeadHash)}, found ${hex64(h)})`);
  }
  if ((head.flags & ~KNOWN_FLAGS) !== 0) {
    throw new FormatError(ctx, offset, `chunk flags within ${hex16(KNOWN_FLAGS)}`, `found ${hex16(head.flags)}`);
  }
  if (chunkTypeInfo(head.type) === undefined) {
    if (head.flags & ChunkFlags.OPTIONAL) return false;
    throw new FormatError(ctx, offset, `record type ${hex16(head.type)} at offset ${offset} is unknown to this cr`);
  }
  return true;
}

/** Offset of the body of a chunk at `offset` with the given head. */
export function bodyOffset(offset: number, head: ChunkHead, pageSize: number): number {
  const end = offset + CHUNK_HEAD_SIZE + head.metaLength + HEAD_HASH_SIZE;
  return head.flags & ChunkFlags.ALIGNED ? alignUp(end, pageSize) : end;
}

/** Encodes head + meta + head hash + alignment padding. */
export function encodeChunkPrefix(
  type: number,
  flags: number,
  meta: Uint8Array,
  bodyLength: number,
  bodyHash: bigint,
  offset: number,
  pageSize: number,
): { bytes: Uint8Array; headHash: bigint } {
  const hm = CHUNK_HEAD_SIZE + meta.length;
  let total = hm + HEAD_HASH_SIZE;
  if (flags & ChunkFlags.ALIGNED) total = alignUp(offset + total, pageSize) - offset;
  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  dv.setUint16(0, type, true);
  dv.setUint16(2, flags, true);
  dv.setUint32(4, meta.length, true);
  dv.setBigUint64(8, BigInt(bodyLength), true);
  dv.setBigUint64(16, bodyHash, true);
  bytes.set(meta, CHUNK_HEAD_SIZE);
  const headHash = xxh64(bytes.subarray(0, hm));
  dv.setBigUint64(hm, headHash, true);
  return { bytes, headHash };
}

export function encodeFooter(indexOffset: number, identity: bigint): Uint8Array {
  const first = encode(struct("", { indexOffset: u64n, identity: u64 }), { indexOffset, identity });
  return encode(FooterSchema, { indexOffset, identity, footerHash: xxh64(first), endMagic: END_MAGIC });
}

export function decodeFooter(ctx: FormatErrorContext, offset: number, bytes: Uint8Array): Footer {
  if (bytes.length !== FOOTER_SIZE) throw new FormatError(ctx, offset, `a ${FOOTER_SIZE}-byte footer`, `found ${bytes.length} bytes`);
  const f = decode(FooterSchema, bytes, failAt(ctx, offset, "footer"));
  if (!sameBytes(f.endMagic, END_MAGIC)) {
    throw new FormatError(ctx, offset + 24, 'end magic "CREND\\0\\r\\n" (file truncated or not finished)');
  }
  const h = xxh64(bytes.subarray(0, 16));
  if (h !== f.footerHash) throw new FormatError(ctx, offset + 16, `footer hash mismatch (expected ${hex64(f.footerHash)}, found ${hex64(h)})`);
  return f;
}

/** Identity hashing: xxh64 over the preamble, then each chunk's (headHash, bodyHash) as 2 x u64 LE. */
export function identityPair(headHash: bigint, bodyHash: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, headHash, true);
  dv.setBigUint64(8, bodyHash, true);
  return b;
}


/**
 * The stream `cr export` writes and `cr import` reads (docs/format.md, "Export streams"): images
 * of one history, each with what its branch recorded of it, in frames that each carry the hash of
 * what they hold, so a damaged byte anywhere is found before it is used. A frame is a chunk of the
 * image format's framing (framing.ts) without flags: head (with the body's hash), meta, hash of
 * head and meta, body. Written and read front to back in bounded memory: an image's bytes travel
 * in DATA frames of at most 1 MiB, so a pipe carries images of any size.
 */
import { FormatError, type FormatErrorContext, hex16, hex64 } from "./errors.js";
import { CHUNK_HEAD_SIZE, decodeChunkHead, encodeChunkPrefix, failAt, HEAD_HASH_SIZE, sameBytes } from "./framing.js";
import { xxh64 } from "./hash.js";
import { decode, doc, encode, f64, fixedBytes, i32, type Infer, type Schema, string, struct, u16, u32, u64, u64n } from "./schema.js";
import type { ByteSource } from "./source.js";
import { type ImageSink, type Sink, sinkOf } from "./writer.js";

export const STREAM_MAJOR = 1;
export const STREAM_MINOR = 0;
export const STREAM_MAGIC = new Uint8Array([0x43, 0x52, 0x53, 0x54, 0x52, 0x00, 0x0d, 0x0a]); // "CRSTR\0\r\n"

export const StreamPreambleSchema = struct("stream preamble", {
  magic: doc(fixedBytes(8), '"CRSTR\\0\\r\\n" = 43 52 53 54 52 00 0d 0a'),
  major: doc(u16, "stream format major version (1); a reader refuses a larger one"),
  minor: doc(u16, "stream format minor version (0)"),
  reserved: doc(u32, "0"),
  preambleHash: doc(u64, "xxh64 of the 16 bytes before it"),
});
export const STREAM_PREAMBLE_SIZE = 24;

export const StreamHeaderSchema = struct("stream header", {
  crid: doc(u64, "the CRID exported"),
  since: doc(u64, "the CRID given as --since (the images it needs are left out); 0 for none"),
  branch: doc(string, "the branch the images were read from"),
  images: doc(u32, "how many images follow"),
  bytes: doc(u64n, "their total size in bytes"),
  createdMs: doc(u64, "when the stream was written, milliseconds since the Unix epoch"),
  toolVersion: doc(string, "version of the cr that wrote it"),
});
export type StreamHeader = Infer<typeof StreamHeaderSchema>;

export const StreamImageSchema = struct("stream image", {
  crid: doc(u64, "the image's CRID"),
  parent: doc(u64, "its parent's CRID; 0 for a full image"),
  identity: doc(u64, "its identity (footer)"),
  bytes: doc(u64n, "size of the image file: the DATA frames that follow carry exactly this many bytes"),
  time: doc(string, "when it was taken (ISO 8601, as branch.json records it)"),
  dirtyPages: doc(u64n, "pages the snapshot found written"),
  downtimeMs: doc(f64, "how long the process was stopped, milliseconds"),
  totalMs: doc(f64, "how long the snapshot took, milliseconds"),
  tracker: doc(string, "the dirty tracker that found the pages"),
  pid: doc(i32, "the process's PID"),
  processKey: doc(string, "PID:starttime of the process incarnation"),
});
export type StreamImage = Infer<typeof StreamImageSchema>;

export const StreamDataSchema = struct("stream data", {
  offset: doc(u64n, "offset of the body's first byte in the image file"),
});

export const StreamEndSchema = struct("stream end", {
  images: doc(u32, "how many images the stream held"),
  bytes: doc(u64n, "their total size in bytes"),
});

export const StreamFrame = { HEADER: 0x0001, IMAGE: 0x0002, DATA: 0x0003, END: 0x0004 } as const;

export interface StreamFrameInfo {
  type: number;
  name: keyof typeof StreamFrame;
  schema: Schema<any>;
  body: string;
  description: string;
}

/** The frame types, in the order a stream holds them. */
export const STREAM_FRAMES: readonly StreamFrameInfo[] = [
  { type: StreamFrame.HEADER, name: "HEADER", schema: StreamHeaderSchema, body: "empty", description: "first frame: what the stream holds" },
  { type: StreamFrame.IMAGE, name: "IMAGE", schema: StreamImageSchema, body: "empty", description: "one image, as its branch recorded it; its bytes follow in DATA frames" },
  { type: StreamFrame.DATA, name: "DATA", schema: StreamDataSchema, body: "1 byte to 1 MiB of the image file (a reader accepts up to 16 MiB)", description: "the next bytes of the current image" },
  { type: StreamFrame.END, name: "END", schema: StreamEndSchema, body: "empty", description: "last frame: counts what came before; nothing follows it" },
];

/** Image bytes per DATA frame written. */
export const STREAM_DATA_BYTES = 1 << 20;
/** Largest DATA body and meta a reader accepts: what it holds in memory at once. */
const MAX_DATA_BODY = 16 << 20;
const MAX_META = 1 << 20;

const frameInfo = new Map(STREAM_FRAMES.map((f) => [f.type, f]));

export function encodeStreamPreamble(): Uint8Array {
  const first = encode(struct("", { magic: fixedBytes(8), major: u16, minor: u16, reserved: u32 }), { magic: STREAM_MAGIC, major: STREAM_MAJOR, minor: STREAM_MINOR, reserved: 0 });
  return encode(StreamPreambleSchema, { magic: STREAM_MAGIC, major: STREAM_MAJOR, minor: STREAM_MINOR, reserved: 0, preambleHash: xxh64(first) });
}

/** Magic, then the hash (so a damaged version is not taken for a newer one), then the version. */
function checkStreamPreamble(ctx: FormatErrorContext, bytes: Uint8Array): void {
  const p = decode(StreamPreambleSchema, bytes, failAt(ctx, 0, "stream preamble"));
  if (!sameBytes(p.magic, STREAM_MAGIC)) throw new FormatError(ctx, 0, 'magic "CRSTR\\0\\r\\n": not a stream of cr export');
  const h = xxh64(bytes.subarray(0, 16));
  if (h !== p.preambleHash) throw new FormatError(ctx, 16, `stream preamble hash mismatch (expected ${hex64(p.preambleHash)}, found ${hex64(h)})`);
  if (p.major > STREAM_MAJOR) throw new FormatError(ctx, 8, `stream format ${p.major}.x is newer than this cr (reads ${STREAM_MAJOR}.x); upgrade cr`);
  if (p.major < STREAM_MAJOR) throw new FormatError(ctx, 8, `stream format major version ${STREAM_MAJOR}`, `found ${p.major}`);
  if (p.reserved !== 0) throw new FormatError(ctx, 12, "reserved preamble field 0", `found ${p.reserved}`);
}

/**
 * Writes a stream to a file descriptor or a Writable: the header now, then image after image,
 * then end(). Each call resolves once the sink is done with the bytes it was given.
 */
export class StreamWriter {
  private readonly buffer = new Uint8Array(STREAM_DATA_BYTES);
  private images = 0;
  private bytes = 0;

  private constructor(private readonly sink: Sink) {}

  static async start(sink: ImageSink, header: StreamHeader): Promise<StreamWriter> {
    const writer = new StreamWriter(sinkOf(sink));
    await writer.sink.write([encodeStreamPreamble()]);
    await writer.frame(StreamFrame.HEADER, encode(StreamHeaderSchema, header));
    return writer;
  }

  /** One image: its entry, then its `entry.bytes` bytes, `read(offset, into)` filling `into` from the file. */
  async image(entry: StreamImage, read: (offset: number, into: Uint8Array) => void, onData?: (bytes: number) => void): Promise<void> {
    await this.frame(StreamFrame.IMAGE, encode(StreamImageSchema, entry));
    for (let offset = 0; offset < entry.bytes; offset += STREAM_DATA_BYTES) {
      const body = this.buffer.subarray(0, Math.min(STREAM_DATA_BYTES, entry.bytes - offset));
      read(offset, body);
      await this.frame(StreamFrame.DATA, encode(StreamDataSchema, { offset }), body);
      onData?.(body.byteLength);
    }
    this.images++;
    this.bytes += entry.bytes;
  }

  async end(): Promise<void> {
    await this.frame(StreamFrame.END, encode(StreamEndSchema, { images: this.images, bytes: this.bytes }));
  }

  private async frame(type: number, meta: Uint8Array, body?: Uint8Array): Promise<void> {
    const bodyHash = body ? xxh64(body) : 0n;
    const { bytes } = encodeChunkPrefix(type, 0, meta, body?.byteLength ?? 0, bodyHash, 0, 4096);
    await this.sink.write(body ? [bytes, body] : [bytes]);
  }
}

interface Frame {
  offset: number;
  info: StreamFrameInfo;
  value: unknown;
  body: Uint8Array;
}

/**
 * Reads a stream from any ByteSource, checking every hash before anything is used, the order
 * of the frames, every image's bytes against its size, and the END counts. Errors are
 * FormatErrors naming the stream (its context's path, kind "stream") and the offset.
 */
export class StreamReader {
  private images = 0;
  private bytes = 0;
  private current: { entry: StreamImage; done: number } | undefined;

  private constructor(
    private readonly src: ByteSource,
    readonly header: StreamHeader,
  ) {}

  /** Reads the preamble and the HEADER frame. */
  static async open(src: ByteSource): Promise<StreamReader> {
    checkStreamPreamble(src.ctx, await src.read(STREAM_PREAMBLE_SIZE, "stream preamble"));
    const first = await readFrame(src);
    if (first.info.type !== StreamFrame.HEADER) throw new FormatError(src.ctx, first.offset, "a HEADER frame first", `found ${first.info.name}`);
    return new StreamReader(src, first.value as StreamHeader);
  }

  /** The stream's name in messages (a file's path, or "<stdin>"). */
  get path(): string {
    return this.src.ctx.path;
  }

  /** The next image's entry (its bytes: nextData), or undefined after END, once the stream is checked to end there. */
  async nextImage(): Promise<StreamImage | undefined> {
    if (this.current) throw new Error("StreamReader: nextImage() before the current image's bytes were read");
    this.src.ctx.crid = undefined;
    const frame = await readFrame(this.src);
    if (frame.info.type === StreamFrame.END) {
      await this.checkEnd(frame);
      return undefined;
    }
    if (frame.info.type !== StreamFrame.IMAGE) throw new FormatError(this.src.ctx, frame.offset, "an IMAGE or END frame", `found ${frame.info.name}`);
    const entry = frame.value as StreamImage;
    this.src.ctx.crid = entry.crid;
    this.current = { entry, done: 0 };
    return entry;
  }

  /** The next bytes of the current image, in file order; undefined once all of them were given. */
  async nextData(): Promise<Uint8Array | undefined> {
    const c = this.current;
    if (!c) throw new Error("StreamReader: nextData() without an image");
    if (c.done === c.entry.bytes) {
      this.current = undefined;
      this.images++;
      this.bytes += c.entry.bytes;
      return undefined;
    }
    const frame = await readFrame(this.src);
    const ctx = this.src.ctx;
    if (frame.info.type !== StreamFrame.DATA) throw new FormatError(ctx, frame.offset, `a DATA frame (${c.entry.bytes - c.done} bytes of the image still to come)`, `found ${frame.info.name}`);
    const { offset } = frame.value as Infer<typeof StreamDataSchema>;
    if (offset !== c.done) throw new FormatError(ctx, frame.offset, `DATA for offset ${c.done} of the image`, `found offset ${offset}`);
    if (frame.body.byteLength === 0 || offset + frame.body.byteLength > c.entry.bytes) {
      throw new FormatError(ctx, frame.offset, `DATA of 1..${c.entry.bytes - c.done} bytes (the rest of the image)`, `found ${frame.body.byteLength}`);
    }
    c.done += frame.body.byteLength;
    return frame.body;
  }

  private async checkEnd(frame: Frame): Promise<void> {
    const ctx = this.src.ctx;
    const end = frame.value as Infer<typeof StreamEndSchema>;
    if (end.images !== this.images || end.bytes !== this.bytes) {
      throw new FormatError(ctx, frame.offset, `END counting the ${this.images} image(s) of ${this.bytes} bytes before it`, `it counts ${end.images} of ${end.bytes}`);
    }
    if (end.images !== this.header.images || end.bytes !== this.header.bytes) {
      throw new FormatError(ctx, frame.offset, `the ${this.header.images} image(s) of ${this.header.bytes} bytes the HEADER announced`, `found ${end.images} of ${end.bytes}`);
    }
    if (!(await this.src.atEnd())) throw new FormatError(ctx, this.src.position, "the end of the stream after END", "more bytes follow");
  }
}

/** One frame, every hash checked, its meta decoded. */
async function readFrame(src: ByteSource): Promise<Frame> {
  const ctx = src.ctx;
  const offset = src.position;
  const headBytes = (await src.read(CHUNK_HEAD_SIZE, "frame head")).slice();
  const head = decodeChunkHead(ctx, offset, headBytes);
  // The lengths are not trusted before the head hash, but the meta must be read to check it: bound it first.
  if (head.metaLength > MAX_META) throw new FormatError(ctx, offset + 4, `frame meta length <= ${MAX_META} (damaged frame head?)`, `found ${head.metaLength}`);
  const headAndMeta = new Uint8Array(CHUNK_HEAD_SIZE + head.metaLength);
  headAndMeta.set(headBytes);
  headAndMeta.set(await src.read(head.metaLength, "frame meta"), CHUNK_HEAD_SIZE);
  const hashBytes = await src.read(HEAD_HASH_SIZE, "frame head hash");
  const stored = new DataView(hashBytes.buffer, hashBytes.byteOffset, 8).getBigUint64(0, true);
  const h = xxh64(headAndMeta);
  if (h !== stored) throw new FormatError(ctx, offset, `frame head hash mismatch (expected ${hex64(stored)}, found ${hex64(h)})`);
  const info = frameInfo.get(head.type);
  if (!info) throw new FormatError(ctx, offset, `frame type ${hex16(head.type)} is unknown to this cr`);
  if (head.flags !== 0) throw new FormatError(ctx, offset + 2, "frame flags 0", `found ${hex16(head.flags)}`);
  const maxBody = info.type === StreamFrame.DATA ? MAX_DATA_BODY : 0;
  if (head.bodyLength > maxBody) throw new FormatError(ctx, offset + 8, `${info.name} body of at most ${maxBody} bytes`, `found ${head.bodyLength}`);
  const value = decode(info.schema, headAndMeta.subarray(CHUNK_HEAD_SIZE), failAt(ctx, offset + CHUNK_HEAD_SIZE, `${info.name} meta`));
  const bodyAt = src.position;
  const body = await src.read(head.bodyLength, `${info.name} body`);
  const bodyHash = body.byteLength === 0 ? 0n : xxh64(body);
  if (bodyHash !== head.bodyHash) throw new FormatError(ctx, bodyAt, `${info.name} body hash mismatch (expected ${hex64(head.bodyHash)}, found ${hex64(bodyHash)})`);
  return { offset, info, value, body };
}

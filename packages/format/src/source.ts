/**
 * Sequential byte sources for the one-pass parser: a file descriptor read in large pieces,
 * or a Node Readable (pipe, socket). Both hand out exact-length views and fail with a
 * FormatError naming the offset when the data ends early.
 */
import { readSync } from "node:fs";
import type { Readable } from "node:stream";
import { FormatError, type FormatErrorContext } from "./errors.js";

export interface ByteSource {
  readonly ctx: FormatErrorContext;
  /** Bytes consumed so far (= file offset of the next byte). */
  readonly position: number;
  /** Exactly n bytes (a view valid until the next call), or a FormatError "truncated". */
  read(n: number, what: string): Promise<Uint8Array>;
  /** True when the source has no more bytes. */
  atEnd(): Promise<boolean>;
}

const PIECE = 4 << 20;

export class FdSource implements ByteSource {
  position = 0;
  private buf = new Uint8Array(PIECE);
  private start = 0;
  private end = 0;
  private filePos: number;
  constructor(
    readonly ctx: FormatErrorContext,
    private readonly fd: number,
    from = 0,
  ) {
    this.filePos = from;
    this.position = from;
  }
  private fill(n: number): number {
    // Make room for n bytes from `start`, then read until n are there or the file ends.
    if (this.start + n > this.buf.length) {
      if (n > this.buf.length) {
        const nb = new Uint8Array(n);
        nb.set(this.buf.subarray(this.start, this.end));
        this.buf = nb;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end - this.start < n) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.filePos);
      if (got === 0) break;
      this.end += got;
      this.filePos += got;
    }
    return this.end - this.start;
  }
  async read(n: number, what: string): Promise<Uint8Array> {
    if (this.end - this.start < n && this.fill(n) < n) {
      throw new FormatError(this.ctx, this.position, `${what}: ${n} bytes`, `file ends at offset ${this.position + this.end - this.start}: truncated`);
    }
    const v = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    this.position += n;
    return v;
  }
  async atEnd(): Promise<boolean> {
    return this.end - this.start === 0 && this.fill(1) === 0;
  }
}

export class StreamSource implements ByteSource {
  position = 0;
  private readonly it: AsyncIterator<unknown>;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  constructor(
    readonly ctx: FormatErrorContext,
    readable: Readable | AsyncIterable<Uint8Array>,
  ) {
    this.it = (readable as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }
  private async pull(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const v = r.value;
    const c = typeof v === "string" ? Buffer.from(v) : (v as Uint8Array);
    if (c.byteLength > 0) {
      this.chunks.push(c);
      this.buffered += c.byteLength;
    }
    return true;
  }
  async read(n: number, what: string): Promise<Uint8Array> {
    while (this.buffered < n) {
      if (!(await this.pull())) {
        throw new FormatError(this.ctx, this.position, `${what}: ${n} bytes`, `stream ends at offset ${this.position + this.buffered}: truncated`);
      }
    }
    let out: Uint8Array;
    const first = this.chunks[0];
    if (n === 0) out = new Uint8Array(0);
    else if (first!.byteLength >= n) {
      out = first!.subarray(0, n);
      if (first!.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first!.subarray(n);
    } else {
      out = new Uint8Array(n);
      let o = 0;
      while (o < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.byteLength, n - o);
        out.set(c.subarray(0, k), o);
        o += k;
        if (k === c.byteLength) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    this.position += n;
    return out;
  }
  async atEnd(): Promise<boolean> {
    while (this.buffered === 0) if (!(await this.pull())) return true;
    return false;
  }
  /** Stops reading the underlying stream. */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * The one error type of the image format. Every damaged, truncated, mismatched or
 * unreadable image ends in a FormatError naming the file, the CRID (when known), the byte
 * offset and what was expected there.
 */
export interface FormatErrorContext {
  /** File path, or "<stream>" when reading a pipe/Readable. */
  path: string;
  /** CRID of the image, when known (from its HEADER or from the caller). */
  crid?: bigint | undefined;
  /** What `path` holds: an image (the default), or a stream of images (cr export). */
  kind?: "image" | "stream";
}

export class FormatError extends Error {
  override readonly name = "FormatError";
  readonly path: string;
  readonly crid: bigint | undefined;
  readonly offset: number;
  readonly expected: string;

  constructor(ctx: FormatErrorContext, offset: number, expected: string, found?: string) {
    const crid = ctx.crid === undefined ? "" : ` (CRID ${ctx.crid})`;
    const what = found === undefined ? expected : `${expected} (${found})`;
    super(`${ctx.kind ?? "image"} ${ctx.path}${crid} at offset ${offset}: ${what}`);
    this.path = ctx.path;
    this.crid = ctx.crid;
    this.offset = offset;
    this.expected = expected;
  }
}

/** Formats a u64 as 0x-prefixed 16-digit hex, the way hashes appear in messages. */
export function hex64(v: bigint): string {
  return "0x" + v.toString(16).padStart(16, "0");
}

/** Formats a record type number as 0x-prefixed 4-digit hex. */
export function hex16(v: number): string {
  return "0x" + v.toString(16).padStart(4, "0");
}

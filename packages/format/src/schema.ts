/**
 * A small schema DSL in the manner of typed-binary: every schema knows how to `measure`,
 * `write` and `read` one value, so a record layout is declared once and both directions of
 * the codec (and the tables of docs/format.md) come from that one declaration.
 *
 * Encoding: little-endian; u64/i64 are bigint; string = u32 byte length + UTF-8 bytes;
 * bytes = u32 length + bytes; array = u32 count + elements; struct = fields in order, no
 * padding. Decoding is bounds-checked: a length or count that points past the end of the
 * encoded record throws a FormatError (through ByteReader.fail), never a RangeError.
 */

export class ByteWriter {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;
  /** Throws (a FormatError built by the caller) for a problem at relative position `at`. */
  readonly fail: (expected: string, at: number) => never;
  constructor(bytes: Uint8Array, fail: (expected: string, at: number) => never) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.end = bytes.byteLength;
    this.fail = fail;
  }
  /** Ensures `n` more bytes are available, else fails naming `what`. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      this.fail(`${what}: ${n} bytes needed, ${this.end - this.pos} left in the record`, this.pos);
    }
  }
}

export interface FieldDoc {
  /** Byte offset within the struct, or undefined once a variable-size field came before. */
  offset: number | undefined;
  /** Byte size, or undefined for variable-size fields. */
  size: number | undefined;
  name: string;
  type: string;
  doc: string;
}

export interface Schema<T> {
  /** Type name as shown in the spec, e.g. "u64", "string", "array<vma>". */
  readonly typeName: string;
  /** Encoded size when every value has the same size, else undefined. */
  readonly fixedSize: number | undefined;
  /** Smallest possible encoded size (bounds array counts before allocating). */
  readonly minSize: number;
  readonly doc: string;
  measure(value: T): number;
  write(w: ByteWriter, value: T): void;
  read(r: ByteReader): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function prim<T>(
  typeName: string,
  size: number,
  write: (w: ByteWriter, v: T) => void,
  read: (r: ByteReader) => T,
): Schema<T> {
  return {
    typeName,
    fixedSize: size,
    minSize: size,
    doc: "",
    measure: () => size,
    write(w, v) {
      write(w, v);
      w.pos += size;
    },
    read(r) {
      r.need(size, typeName);
      const v = read(r);
      r.pos += size;
      return v;
    },
  };
}

function checkInt(v: number, max: number, type: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`value ${v} does not fit ${type}`);
}
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

export const u8: Schema<number> = prim(
  "u8",
  1,
  (w, v) => {
    checkInt(v, 0xff, "u8");
    w.bytes[w.pos] = v;
  },
  (r) => r.bytes[r.pos]!,
);
export const u16: Schema<number> = prim(
  "u16",
  2,
  (w, v) => {
    checkInt(v, 0xffff, "u16");
    w.view.setUint16(w.pos, v, true);
  },
  (r) => r.view.getUint16(r.pos, true),
);
export const u32: Schema<number> = prim(
  "u32",
  4,
  (w, v) => {
    checkInt(v, 0xffffffff, "u32");
    w.view.setUint32(w.pos, v, true);
  },
  (r) => r.view.getUint32(r.pos, true),
);
export const i32: Schema<number> = prim(
  "i32",
  4,
  (w, v) => {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`value ${v} does not fit i32`);
    w.view.setInt32(w.pos, v, true);
  },
  (r) => r.view.getInt32(r.pos, true),
);
export const u64: Schema<bigint> = prim(
  "u64",
  8,
  (w, v) => {
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new RangeError(`value ${String(v)} does not fit u64`);
    w.view.setBigUint64(w.pos, v, true);
  },
  (r) => r.view.getBigUint64(r.pos, true),
);
export const i64: Schema<bigint> = prim(
  "i64",
  8,
  (w, v) => {
    if (typeof v !== "bigint" || v < I64_MIN || v > I64_MAX) throw new RangeError(`value ${String(v)} does not fit i64`);
    w.view.setBigInt64(w.pos, v, true);
  },
  (r) => r.view.getBigInt64(r.pos, true),
);

/** A u64 on disk that the API exposes as a JS number (byte offsets, sizes; must be <= 2^53-1). */
export const u64n: Schema<number> = prim(
  "u64",
  8,
  (w, v) => {
    checkInt(v, Number.MAX_SAFE_INTEGER, "u64 (safe integer)");
    w.view.setBigUint64(w.pos, BigInt(v), true);
  },
  (r) => {
    const v = r.view.getBigUint64(r.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) r.fail(`u64 offset/size <= 2^53-1, found ${v}`, r.pos);
    return Number(v);
  },
);

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** IEEE 754 double (measured times that must travel exactly as recorded). */
export const f64: Schema<number> = prim(
  "f64",
  8,
  (w, v) => {
    if (typeof v !== "number") throw new RangeError(`value ${String(v)} is not a number`);
    w.view.setFloat64(w.pos, v, true);
  },
  (r) => r.view.getFloat64(r.pos, true),
);

/** UTF-8 string: u32 byte length, then the bytes. */
export const string: Schema<string> = {
  typeName: "string",
  fixedSize: undefined,
  minSize: 4,
  doc: "",
  measure: (v) => 4 + Buffer.byteLength(v, "utf8"),
  write(w, v) {
    const { written } = encoder.encodeInto(v, w.bytes.subarray(w.pos + 4));
    w.view.setUint32(w.pos, written, true);
    w.pos += 4 + written;
  },
  read(r) {
    r.need(4, "string length");
    const n = r.view.getUint32(r.pos, true);
    r.pos += 4;
    r.need(n, "string bytes");
    let s: string;
    try {
      s = decoder.decode(r.bytes.subarray(r.pos, r.pos + n));
    } catch {
      return r.fail("valid UTF-8 string", r.pos);
    }
    r.pos += n;
    return s;
  },
};

/** Byte string: u32 length, then the bytes. Decoded as a copy (safe to keep). */
export const bytes: Schema<Uint8Array> = {
  typeName: "bytes",
  fixedSize: undefined,
  minSize: 4,
  doc: "",
  measure: (v) => 4 + v.byteLength,
  write(w, v) {
    if (v.byteLength > 0xffffffff) throw new RangeError("bytes longer than 4 GiB");
    w.view.setUint32(w.pos, v.byteLength, true);
    w.bytes.set(v, w.pos + 4);
    w.pos += 4 + v.byteLength;
  },
  read(r) {
    r.need(4, "bytes length");
    const n = r.view.getUint32(r.pos, true);
    r.pos += 4;
    r.need(n, "bytes");
    const v = new Uint8Array(r.bytes.subarray(r.pos, r.pos + n));
    r.pos += n;
    return v;
  },
};

export interface ArraySchema<T> extends Schema<T[]> {
  readonly element: Schema<T>;
}

/** Array: u32 element count, then the elements. */
export function array<T>(element: Schema<T>): ArraySchema<T> {
  const fixed = element.fixedSize;
  return {
    typeName: `array<${element.typeName}>`,
    fixedSize: undefined,
    minSize: 4,
    doc: "",
    element,
    measure(v) {
      if (fixed !== undefined) return 4 + fixed * v.length;
      let n = 4;
      for (const e of v) n += element.measure(e);
      return n;
    },
    write(w, v) {
      if (v.length > 0xffffffff) throw new RangeError("array longer than 2^32-1");
      w.view.setUint32(w.pos, v.length, true);
      w.pos += 4;
      for (const e of v) element.write(w, e);
    },
    read(r) {
      r.need(4, "array count");
      const n = r.view.getUint32(r.pos, true);
      r.pos += 4;
      // Bound the count by what the record can hold before allocating anything.
      if (n * Math.max(1, element.minSize) > r.end - r.pos) {
        r.fail(`array of ${n} ${element.typeName} within the record (${r.end - r.pos} bytes left)`, r.pos - 4);
      }
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) out[i] = element.read(r);
      return out;
    },
  };
}

export type Fields = Record<string, Schema<any>>;
export type InferFields<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

export interface StructSchema<F extends Fields> extends Schema<InferFields<F>> {
  readonly fields: F;
}

/** Struct: the fields in declaration order, no padding, no tags. */
export function struct<F extends Fields>(typeName: string, fields: F): StructSchema<F> {
  const entries = Object.entries(fields) as [string, Schema<unknown>][];
  let fixed: number | undefined = 0;
  let min = 0;
  for (const [, s] of entries) {
    min += s.minSize;
    fixed = fixed === undefined || s.fixedSize === undefined ? undefined : fixed + s.fixedSize;
  }
  return {
    typeName,
    fixedSize: fixed,
    minSize: min,
    doc: "",
    fields,
    measure(v) {
      if (fixed !== undefined) return fixed;
      let n = 0;
      for (const [k, s] of entries) n += s.measure((v as Record<string, unknown>)[k]);
      return n;
    },
    write(w, v) {
      for (const [k, s] of entries) {
        const fv = (v as Record<string, unknown>)[k];
        try {
          s.write(w, fv);
        } catch (e) {
          if (e instanceof RangeError || e instanceof TypeError) {
            throw new RangeError(`${typeName}.${k}: ${e.message}`);
          }
          throw e;
        }
      }
    },
    read(r) {
      const out: Record<string, unknown> = {};
      for (const [k, s] of entries) out[k] = s.read(r);
      return out as InferFields<F>;
    },
  };
}

/** The same schema with a one-line description for the spec's tables. */
export function doc<S extends Schema<any>>(schema: S, text: string): S {
  return { ...schema, doc: text };
}

/** Encodes one value into a fresh buffer of exactly its measured size. */
export function encode<T>(schema: Schema<T>, value: T): Uint8Array {
  const out = new Uint8Array(schema.measure(value));
  const w = new ByteWriter(out);
  schema.write(w, value);
  if (w.pos !== out.byteLength) throw new Error(`${schema.typeName}: wrote ${w.pos} bytes, measured ${out.byteLength}`);
  return out;
}

/** Decodes one value that must fill `data` exactly. */
export function decode<T>(schema: Schema<T>, data: Uint8Array, fail: (expected: string, at: number) => never): T {
  const r = new ByteReader(data, fail);
  const v = schema.read(r);
  if (r.pos !== r.end) fail(`${schema.typeName} of ${r.pos} bytes, record has ${r.end} (trailing bytes)`, r.pos);
  return v;
}

/** Field tables for the spec: one row per field of a struct. */
export function describeStruct(s: StructSchema<Fields>): FieldDoc[] {
  const rows: FieldDoc[] = [];
  let off: number | undefined = 0;
  for (const [name, f] of Object.entries(s.fields)) {
    rows.push({ offset: off, size: f.fixedSize, name, type: f.typeName, doc: f.doc });
    off = off === undefined || f.fixedSize === undefined ? undefined : off + f.fixedSize;
  }
  return rows;
}

/** Exactly `n` bytes (magic numbers). Decoded as a copy. */
export function fixedBytes(n: number): Schema<Uint8Array> {
  return {
    typeName: `bytes[${n}]`,
    fixedSize: n,
    minSize: n,
    doc: "",
    measure: () => n,
    write(w, v) {
      if (v.byteLength !== n) throw new RangeError(`expected ${n} bytes, got ${v.byteLength}`);
      w.bytes.set(v, w.pos);
      w.pos += n;
    },
    read(r) {
      r.need(n, `bytes[${n}]`);
      const v = new Uint8Array(r.bytes.subarray(r.pos, r.pos + n));
      r.pos += n;
      return v;
    },
  };
}

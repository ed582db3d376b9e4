/**
 * LZ4 block format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md), in
 * TypeScript: no frame, no checksum (the chunk's body hash covers the compressed bytes).
 *
 * The compressor is the classic single-probe hash-table compressor of LZ4_compress_fast
 * (acceleration 1, 64 Ki-entry table), and respects the end-of-block rules (the last 5 bytes
 * are literals; the last match starts at least 12 bytes before the end), so any standard
 * LZ4 decoder reads its output. The decoder checks every length, offset and copy against
 * both buffers and requires the output to be filled exactly: malicious input yields an
 * Lz4Error, never an out-of-bounds access, a hang or a short result.
 */

export class Lz4Error extends Error {
  override readonly name = "Lz4Error";
  /** Position in the compressed input where decoding failed. */
  readonly at: number;
  constructor(message: string, at: number) {
    super(message);
    this.at = at;
  }
}

const MINMATCH = 4;
const MFLIMIT = 12;
const LASTLITERALS = 5;
const MAX_DISTANCE = 65535;
const HASH_LOG = 16;
const SKIP_TRIGGER = 6;

const table = new Int32Array(1 << HASH_LOG);

/** Worst-case compressed size of `n` input bytes. */
export function lz4Bound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function read32(s: Uint8Array, i: number): number {
  return s[i]! | (s[i + 1]! << 8) | (s[i + 2]! << 16) | (s[i + 3]! << 24);
}

function hash32(v: number): number {
  return Math.imul(v, 0x9e3779b1) >>> (32 - HASH_LOG);
}

/**
 * Compresses `src` into `dst` as one LZ4 block. Returns the compressed length, or -1 when
 * the result does not fit in `dst` (pass a `dst` shorter than `src` to keep only blocks that
 * shrink; lz4Bound(src.length) always fits).
 */
export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  const oend = dst.length;
  let op = 0;
  let anchor = 0;

  if (n > MFLIMIT) {
    table.fill(0);
    const mflimit = n - MFLIMIT;
    const matchlimit = n - LASTLITERALS;
    let ip = 0;
    let search = 1 << SKIP_TRIGGER;
    while (ip < mflimit) {
      const seq = read32(src, ip);
      const h = hash32(seq);
      const ref = table[h]! - 1;
      table[h] = ip + 1;
      if (ref < 0 || ip - ref > MAX_DISTANCE || read32(src, ref) !== seq) {
        ip += search++ >> SKIP_TRIGGER;
        continue;
      }
      search = 1 << SKIP_TRIGGER;
      // Extend backwards over pending literals, then forwards.
      let mstart = ip;
      let mref = ref;
      while (mstart > anchor && mref > 0 && src[mstart - 1] === src[mref - 1]) {
        mstart--;
        mref--;
      }
      let e = ip + MINMATCH;
      let r = ref + MINMATCH;
      while (e < matchlimit && src[e] === src[r]) {
        e++;
        r++;
      }
      const litLen = mstart - anchor;
      const matchLen = e - mstart - MINMATCH;
      // token + literal length bytes + literals + offset + match length bytes
      if (op + 1 + ((litLen / 255) | 0) + 1 + litLen + 2 + ((matchLen / 255) | 0) + 1 > oend) return -1;
      const tokenPos = op++;
      let token: number;
      if (litLen >= 15) {
        token = 15 << 4;
        let l = litLen - 15;
        while (l >= 255) {
          dst[op++] = 255;
          l -= 255;
        }
        dst[op++] = l;
      } else {
        token = litLen << 4;
      }
      if (litLen > 0) {
        if (litLen < 32) for (let i = 0; i < litLen; i++) dst[op + i] = src[anchor + i]!;
        else dst.set(src.subarray(anchor, mstart), op);
        op += litLen;
      }
      const offset = ip - ref;
      dst[op++] = offset & 0xff;
      dst[op++] = offset >>> 8;
      if (matchLen >= 15) {
        token |= 15;
        let l = matchLen - 15;
        while (l >= 255) {
          dst[op++] = 255;
          l -= 255;
        }
        dst[op++] = l;
      } else {
        token |= matchLen;
      }
      dst[tokenPos] = token;
      anchor = ip = e;
      if (ip - 2 < mflimit) table[hash32(read32(src, ip - 2))] = ip - 2 + 1;
    }
  }

  // Last literals.
  const litLen = n - anchor;
  if (op + 1 + ((litLen / 255) | 0) + 1 + litLen > oend) return -1;
  if (litLen >= 15) {
    dst[op++] = 15 << 4;
    let l = litLen - 15;
    while (l >= 255) {
      dst[op++] = 255;
      l -= 255;
    }
    dst[op++] = l;
  } else {
    dst[op++] = litLen << 4;
  }
  dst.set(src.subarray(anchor, n), op);
  op += litLen;
  return op;
}

/** Compresses into a fresh buffer of exactly the compressed size. */
export function lz4Encode(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(lz4Bound(src.length));
  const n = lz4Compress(src, dst);
  return dst.slice(0, n);
}

/**
 * Decompresses one LZ4 block into `dst`, which must be filled exactly (its length is the
 * known decoded size). Throws Lz4Error on any malformed input.
 */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array): void {
  const iend = src.length;
  const oend = dst.length;
  let ip = 0;
  let op = 0;
  if (iend === 0) throw new Lz4Error("empty LZ4 block", 0);
  for (;;) {
    if (ip >= iend) throw new Lz4Error("LZ4 block ends before its last sequence", ip);
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= iend) throw new Lz4Error("LZ4 literal length runs past the block", ip);
        b = src[ip++]!;
        litLen += b;
        if (litLen > oend) throw new Lz4Error("LZ4 literal length past the decoded size", ip);
      } while (b === 255);
    }
    if (litLen > iend - ip) throw new Lz4Error("LZ4 literals run past the block", ip);
    if (litLen > oend - op) throw new Lz4Error("LZ4 literals run past the decoded size", ip);
    if (litLen < 32) {
      for (let i = 0; i < litLen; i++) dst[op + i] = src[ip + i]!;
    } else {
      dst.set(src.subarray(ip, ip + litLen), op);
    }
    ip += litLen;
    op += litLen;
    if (ip === iend) break; // the last sequence has literals only
    if (iend - ip < 2) throw new Lz4Error("LZ4 match offset runs past the block", ip);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new Lz4Error(`LZ4 match offset ${offset} points before the output`, ip - 2);
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= iend) throw new Lz4Error("LZ4 match length runs past the block", ip);
        b = src[ip++]!;
        matchLen += b;
        if (matchLen > oend) throw new Lz4Error("LZ4 match length past the decoded size", ip);
      } while (b === 255);
    }
    matchLen += MINMATCH;
    if (matchLen > oend - op) throw new Lz4Error("LZ4 match runs past the decoded size", ip);
    let m = op - offset;
    if (offset >= matchLen && matchLen >= 64) {
      dst.copyWithin(op, m, m + matchLen);
      op += matchLen;
    } else if (offset >= 16 && matchLen >= 64) {
      // Overlapping but with a long period: copy in chunks of `offset`.
      const end = op + matchLen;
      while (op < end) {
        const k = Math.min(offset, end - op);
        dst.copyWithin(op, m, m + k);
        op += k;
        m += k;
      }
    } else {
      const end = op + matchLen;
      while (op < end) dst[op++] = dst[m++]!;
    }
  }
  if (op !== oend) throw new Lz4Error(`LZ4 block decodes to ${op} bytes, expected ${oend}`, ip);
}

// The page fill pattern of the C fixtures (test/fixtures/pattern.h), twinned in TypeScript so a
// test can compute exactly the bytes a fixture wrote.
//
// Each 8-byte word of a page is a function of (seed, page index, word index); the page index is
// counted from the start of the region, so the bytes do not depend on the address (content
// survives mremap). Words are never all-zero (bit 0 of the low half is always set), so a page
// that was dropped or never restored (reads as zeros) can never look like a written one.
// All arithmetic is on unsigned 32-bit values, stored little-endian: low half, then high half.

export const PAGE_SIZE = 4096;
export const WORDS_PER_PAGE = PAGE_SIZE / 8;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The word at (seed, page, word) as [low, high] unsigned 32-bit halves. */
export function patternWord(seed: number, page: number, word: number): [number, number] {
  const lo = (fmix32(seed ^ Math.imul(page, 0x9e3779b1) ^ Math.imul(word + 1, 0x7feb352d)) | 1) >>> 0;
  const hi = fmix32(lo ^ Math.imul(seed + 0x632be5ab, 0x2c1b3c6d) ^ page);
  return [lo, hi];
}

/** Write the pattern of pages [first, first+count) into `buf` starting at byte `offset`. */
export function fillPattern(buf: Buffer, offset: number, seed: number, first: number, count: number): void {
  for (let p = 0; p < count; p++) {
    const base = offset + p * PAGE_SIZE;
    for (let w = 0; w < WORDS_PER_PAGE; w++) {
      const [lo, hi] = patternWord(seed, first + p, w);
      buf.writeUInt32LE(lo, base + w * 8);
      buf.writeUInt32LE(hi, base + w * 8 + 4);
    }
  }
}

/** The bytes of pages [first, first+count) as the fixtures' `write ID FIRST COUNT SEED` leaves them. */
export function patternPages(seed: number, first: number, count: number): Buffer {
  const buf = Buffer.alloc(count * PAGE_SIZE);
  fillPattern(buf, 0, seed, first, count);
  return buf;
}

/**
 * Compare `count` pages of `buf` (from byte `offset`) with the pattern of pages first.. .
 * Returns null when they match, else a message naming the first differing page and word.
 */
export function checkPattern(buf: Buffer, offset: number, seed: number, first: number, count: number): string | null {
  for (let p = 0; p < count; p++) {
    const base = offset + p * PAGE_SIZE;
    for (let w = 0; w < WORDS_PER_PAGE; w++) {
      const [lo, hi] = patternWord(seed, first + p, w);
      const gotLo = buf.readUInt32LE(base + w * 8);
      const gotHi = buf.readUInt32LE(base + w * 8 + 4);
      if (gotLo !== lo || gotHi !== hi) {
        return `page ${first + p} word ${w}: got 0x${hex(gotHi, gotLo)}, want 0x${hex(hi, lo)} (seed ${seed})`;
      }
    }
  }
  return null;
}

/** True if `count` pages of `buf` from byte `offset` are all zero. */
export function isZeroPages(buf: Buffer, offset: number, count: number): boolean {
  const end = offset + count * PAGE_SIZE;
  for (let i = offset; i < end; i += 4) if (buf.readUInt32LE(i) !== 0) return false;
  return true;
}

function hex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { xxh32 } from "./hash.js";
import { mixedPages, prng } from "./image.test-util.js";
import { lz4Bound, lz4Compress, lz4Decompress, lz4Encode, Lz4Error } from "./lz4.js";

function roundTrip(src: Uint8Array): Uint8Array {
  const c = lz4Encode(src);
  const out = new Uint8Array(src.length);
  lz4Decompress(c, out);
  expect(Buffer.from(out).equals(Buffer.from(src))).toBe(true);
  return c;
}

/** Wraps LZ4 blocks in a minimal LZ4 frame (what the `lz4` tool reads). */
function frame(block: Uint8Array, rawSize: number): Uint8Array {
  const desc = new Uint8Array([0x60, 0x70]); // version 01, block independence; 4 MiB max block
  const hc = (xxh32(desc) >>> 8) & 0xff;
  const compressed = block.length < rawSize;
  const size = Buffer.alloc(4);
  size.writeUInt32LE(compressed ? block.length : (rawSize | 0x80000000) >>> 0);
  return Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), desc, Buffer.from([hc]), size, block, Buffer.alloc(4)]);
}


describe("LZ4 block codec", () => {
  it("round-trips empty, tiny, repetitive, random and mixed inputs", () => {
    const r = prng(1);
    for (let n = 0; n < 40; n++) roundTrip(Uint8Array.from({ length: n }, () => r() & 3));
    roundTrip(new Uint8Array(1 << 20));
    roundTrip(Uint8Array.from({ length: 100000 }, () => r() & 0xff));
    const mixed = mixedPages(64, 3);
    expect(roundTrip(mixed).length).toBeLessThan(mixed.length);
    // Long matches with short periods (overlapping copies) and literal runs > 255.
    roundTrip(Uint8Array.from({ length: 70000 }, (_, i) => (i % 3 === 0 ? 7 : i % 5)));
    roundTrip(Uint8Array.from({ length: 5000 }, (_, i) => (i < 1000 ? r() & 0xff : 1)));
  });

  it("reports -1 when the output does not fit", () => {
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff ^ (i >> 3));
    expect(lz4Compress(src, new Uint8Array(10))).toBe(-1);
    expect(lz4Compress(src, new Uint8Array(lz4Bound(src.length)))).toBeGreaterThan(0);
  });

  // The lz4 tool is installed by the set-up (scripts/setup.sh).
  it("is read by the reference lz4 tool, and reads what it writes", () => {
    const src = mixedPages(128, 9);
    const block = lz4Encode(src);
    const dec = spawnSync("lz4", ["-d", "-c"], { input: frame(block, src.length), maxBuffer: 1 << 28 });
    expect(dec.status).toBe(0);
    expect(Buffer.from(dec.stdout).equals(Buffer.from(src))).toBe(true);
    // The tool's own output (frame with one independent block, no checksums).
    const enc = spawnSync("lz4", ["-c", "-BD", "-B4", "--no-frame-crc", "-BI"], { input: src.subarray(0, 60000), maxBuffer: 1 << 28 });
    expect(enc.status).toBe(0);
    const f = Buffer.from(enc.stdout);
    const flg = f[4]!;
    const hdr = 4 + 2 + (flg & 0x08 ? 8 : 0) + 1;
    const size = f.readUInt32LE(hdr);
    expect(size & 0x80000000).toBe(0);
    const out = new Uint8Array(60000);
    lz4Decompress(f.subarray(hdr + 4, hdr + 4 + size), out);
    expect(Buffer.from(out).equals(Buffer.from(src.subarray(0, 60000)))).toBe(true);
  });

  it("rejects malformed blocks with an Lz4Error: no other exception, no hang, never a short result", () => {
    const r = prng(42);
    const src = mixedPages(8, 4);
    const good = lz4Encode(src);
    const out = new Uint8Array(src.length);
    let errors = 0;
    for (let k = 0; k < 3000; k++) {
      let bad: Uint8Array;
      if (k % 3 === 0) bad = Uint8Array.from({ length: r() % 200 }, () => r() & 0xff);
      else if (k % 3 === 1) {
        bad = good.slice();
        for (let j = 0; j < 1 + (r() % 4); j++) bad[r() % bad.length] = r() & 0xff;
      } else bad = good.subarray(0, r() % good.length);
      try {
        lz4Decompress(bad, out);
      } catch (e) {
        expect(e).toBeInstanceOf(Lz4Error);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(2000);
    // Lengths that would overflow or point before the output.
    expect(() => lz4Decompress(new Uint8Array([0xf0, 255, 255, 255, 255, 255]), new Uint8Array(10))).toThrow(Lz4Error);
    expect(() => lz4Decompress(new Uint8Array([0x14, 65, 5, 0]), new Uint8Array(100))).toThrow(/offset 5 points before/);
    expect(() => lz4Decompress(new Uint8Array([0x10, 65]), new Uint8Array(2))).toThrow(/decodes to 1 bytes, expected 2/);
  });
});

import { randomFillSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { lz4Compress, lz4Decompress, NativeError } from "./index.js";

describe("lz4 (liblz4)", () => {
  it("compresses a block of pages that decodes to the same bytes", () => {
    const src = Buffer.alloc(64 * 4096);
    for (let i = 0; i < src.length; i += 64) src.write(`page ${i >> 12} line ${i} `, i); // text-like: compressible
    const dst = new Uint8Array(src.length);
    const n = lz4Compress(src, dst);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(src.length / 2);
    const back = new Uint8Array(src.length);
    lz4Decompress(dst.subarray(0, n), back);
    expect(Buffer.from(back).equals(src)).toBe(true);
  });

  it("says -1 when the block does not fit (random bytes into less room than they take)", () => {
    const src = randomFillSync(Buffer.alloc(4096));
    expect(lz4Compress(src, new Uint8Array(Math.floor((4096 * 7) / 8)))).toBe(-1);
  });

  it("refuses a malformed block, or one of another length, with EINVAL", () => {
    const src = Buffer.alloc(8192, 7);
    const dst = new Uint8Array(8192);
    const n = lz4Compress(src, dst);
    expect(() => lz4Decompress(dst.subarray(0, n), new Uint8Array(4096))).toThrow(NativeError);
    expect(() => lz4Decompress(Uint8Array.from([0xff, 0xff, 0xff]), new Uint8Array(4096))).toThrow(/EINVAL|malformed/);
  });
});

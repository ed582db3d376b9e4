import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FormatError, ImageReader, ImageWriter, lz4Bound, lz4Compress as formatCompress, lz4Decompress as formatDecompress, Lz4Error } from "@cr/format";
import { lz4Compress as nativeCompress, PAGE_SIZE, xxh64 } from "@cr/native";
import { decodeLz4 } from "./store-images.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Pages like a heap's: a word in six random, the rest a value of their page. */
function heapLike(pages: number): Buffer {
  const data = Buffer.alloc(pages * PAGE_SIZE);
  let state = 0x2545f491;
  for (let i = 0; i < data.length / 4; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data.writeUInt32LE(i % 6 === 0 ? state >>> 0 : (Math.floor(i / 1024) + 1) * 0x01010101 >>> 0, i * 4);
  }
  return data;
}

describe("decodeLz4 (the reference library's decoder)", () => {
  it("decodes what the format's encoder and the reference library make, as the format's decoder does", () => {
    const data = heapLike(16);
    for (const compress of [formatCompress, nativeCompress]) {
      const room = new Uint8Array(lz4Bound(data.length));
      const block = room.subarray(0, compress(data, room));
      const ours = new Uint8Array(data.length);
      const theirs = new Uint8Array(data.length);
      decodeLz4(block, ours);
      formatDecompress(block, theirs);
      expect(Buffer.from(ours).equals(data)).toBe(true);
      expect(ours).toEqual(theirs);
    }
  });

  it("makes a malformed block an Lz4Error, which an image reader reports at the block", async () => {
    const garbage = Buffer.from([0xf0, 0xff, 0xff, 0xff, 0x01]); // a literal run longer than the block
    expect(() => decodeLz4(garbage, new Uint8Array(PAGE_SIZE))).toThrow(Lz4Error);
    const dir = mkdtempSync(join(tmpdir(), "cr-decode-lz4-"));
    dirs.push(dir);
    const path = join(dir, "image");
    const fd = openSync(path, "w");
    let block: number;
    try {
      const writer = new ImageWriter(fd, { header: { crid: 1n, parentCrid: 0n, parentIdentity: 0n, pageSize: PAGE_SIZE, arch: "x86_64", toolVersion: "test" } });
      block = await writer.writeCompressedPages(0x10000n, garbage, PAGE_SIZE, xxh64(garbage)); // its hash right: only decoding can tell
      await writer.writePageMap([{ source: "data", vaddr: 0x10000n, pages: 1, block, firstPage: 0 }]);
      await writer.finish();
    } finally {
      closeSync(fd);
    }
    const reader = ImageReader.open(path, { decompress: decodeLz4 });
    try {
      expect(() => reader.readBlock(block)).toThrow(FormatError);
      expect(() => reader.readBlock(block)).toThrow(/valid LZ4 block/);
    } finally {
      reader.close();
    }
  });
});

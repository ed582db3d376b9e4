import { execFileSync } from "node:child_process";
import { closeSync, constants as fsc, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { ImageReader, ImageWriter, xxh64, type ImageSink } from "@cr/format";
import { alignedBuffer, linkTmpfile, openTmpfile, xxh64 as nativeXxh64, xxh64Pages } from "@cr/native";
import { ChainBlocks } from "./chain-blocks.js";
import { DIRECT_MIN_BYTES, withImageSink } from "./direct-io.js";
import { CrError } from "../errors.js";

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), "cr-direct-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Block i of a test image: `pages` pages whose bytes depend on i and the offset. */
function block(i: number, pages: number): Buffer {
  const b = Buffer.alloc(pages * PAGE);
  for (let off = 0; off < b.length; off += 4) b.writeUInt32LE(((i + 1) * 2654435761 + off * 40503) >>> 0, off);
  return b;
}

/** Writes an image of `blocks` blocks of the given sizes (pages) into `fd` through `sink`. */
async function writeTestImage(sink: ImageSink, sizes: number[]): Promise<{ identity: bigint; bytes: number }> {
  const writer = new ImageWriter(sink, { header: { crid: 1n, pageSize: PAGE, createdMs: 0n } });
  const entries = [];
  let vaddr = 0x10000000n;
  for (const [i, pages] of sizes.entries()) {
    const at = await writer.writePages(vaddr, block(i, pages));
    entries.push({ source: "data" as const, vaddr, pages, block: at, firstPage: 0 });
    vaddr += BigInt(pages * PAGE) + 0x100000n;
  }
  await writer.writePageMap(entries);
  return writer.finish();
}

async function imageThroughSink(name: string, sizes: number[], dataBytes: number, where = dir): Promise<string> {
  const dirFd = openSync(where, fsc.O_RDONLY | fsc.O_DIRECTORY);
  const fd = openTmpfile(dirFd, 0o600);
  try {
    await withImageSink(fd, name, dataBytes, (sink) => writeTestImage(sink, sizes));
    fsyncSync(fd);
    linkTmpfile(fd, dirFd, name);
  } finally {
    closeSync(fd);
    closeSync(dirFd);
  }
  return join(where, name);
}

describe("images written around the page cache", () => {
  // 300 blocks of 1..256 pages: ~75 MiB, so staging buffers fill, several writes are in flight,
  // and the tail is a partial block cut back to size.
  const sizes = Array.from({ length: 300 }, (_, i) => 1 + ((i * 97) % 256));
  const dataBytes = sizes.reduce((a, b) => a + b, 0) * PAGE;

  it("are byte for byte the image a plain descriptor gets", async () => {
    expect(dataBytes).toBeGreaterThanOrEqual(DIRECT_MIN_BYTES);
    const direct = await imageThroughSink("direct.crimg", sizes, dataBytes);
    const plain = await imageThroughSink("plain.crimg", sizes, 0);
    execFileSync("cmp", [direct, plain]);
    const reader = ImageReader.open(direct);
    expect((await reader.verify()).bytes).toBe(reader.size);
    reader.close();
  });

  it("read back around the cache into aligned and unaligned buffers alike", async () => {
    const reader = ImageReader.open(await imageThroughSink("read.crimg", sizes, dataBytes));
    expect(reader.readAroundCache()).toBe(true);
    const aligned = alignedBuffer(256 * PAGE);
    const unaligned = new Uint8Array(256 * PAGE + 1).subarray(1);
    for (const [i, b] of reader.blocks().entries()) {
      const want = block(i, sizes[i]!);
      expect(Buffer.compare(reader.readBlock(b.offset, aligned), want)).toBe(0);
      expect(Buffer.compare(reader.readBlock(b.offset, unaligned), want)).toBe(0);
    }
    reader.close();
  });

  it("are read ahead, whole and in pieces, in the order of use and out of it", async () => {
    const reader = ImageReader.open(await imageThroughSink("ahead.crimg", sizes, dataBytes));
    expect(reader.readAroundCache()).toBe(true);
    const offsets = reader.blocks().map((b) => b.offset);
    // Every block twice in a row (the second from the cache), then two out of order.
    const uses = offsets.flatMap((offset) => [offset, offset]).map((offset) => ({ crid: 1n, block: offset }));
    const chain = new ChainBlocks(() => reader, uses);
    for (const i of offsets.keys()) {
      const want = block(i, sizes[i]!);
      expect(Buffer.compare(await chain.pages(1n, offsets[i]!, 0, 1), want.subarray(0, PAGE))).toBe(0);
      expect(Buffer.compare(await chain.pages(1n, offsets[i]!, 0, sizes[i]!), want)).toBe(0);
    }
    expect(Buffer.compare(await chain.pages(1n, offsets[3]!, 1, 1), block(3, sizes[3]!).subarray(PAGE, 2 * PAGE))).toBe(0);
    await chain.close();
    reader.close();
  });

  it("are read ahead across images in the order of use, large and small interleaved, and checked as read", async () => {
    const large = ImageReader.open(await imageThroughSink("ahead-large.crimg", sizes, dataBytes));
    expect(large.readAroundCache()).toBe(true);
    const smallSizes = [3, 256, 17, 100];
    const smallPath = await imageThroughSink("ahead-small.crimg", smallSizes, 0);
    const small = ImageReader.open(smallPath);
    const images = new Map([
      [1n, { reader: large, sizes }],
      [2n, { reader: small, sizes: smallSizes }],
    ]);
    const uses = [...Array(40).keys()].map((i) => ({ crid: i % 2 === 0 ? 1n : 2n, index: i % 2 === 0 ? i / 2 : Math.floor(i / 10) }));
    const chain = new ChainBlocks((crid) => images.get(crid)!.reader, uses.map((u) => ({ crid: u.crid, block: images.get(u.crid)!.reader.blocks()[u.index]!.offset })));
    for (const u of uses) {
      const { reader, sizes: s } = images.get(u.crid)!;
      const got = await chain.pages(u.crid, reader.blocks()[u.index]!.offset, 1, s[u.index]! - 1);
      expect(Buffer.compare(got, block(u.index, s[u.index]!).subarray(PAGE))).toBe(0);
    }
    const last = small.blocks()[0]!.offset;
    await expect(chain.pages(2n, last, 2, 2)).rejects.toMatchObject({ code: "BAD_IMAGE", crid: 2n, offset: last });
    await chain.close();
    // A damaged byte in a small image's block read ahead: refused by its body hash.
    const damaged = join(dir, "ahead-damaged.crimg");
    execFileSync("cp", [smallPath, damaged]);
    const second = small.blocks()[1]!.offset;
    execFileSync("sh", ["-c", `printf x | dd of=${damaged} bs=1 seek=${small.block(second).bodyOffset + 5} conv=notrunc status=none`]);
    const bad = ImageReader.open(damaged);
    const badChain = new ChainBlocks(() => bad, [{ crid: 2n, block: second }]);
    await expect(badChain.pages(2n, second, 0, 1)).rejects.toThrow(/hash mismatch/);
    await badChain.close();
    for (const r of [large, small, bad]) r.close();
  });

  it("held after their image moves on until released; a read that finds no free slot is left to the caller", async () => {
    const smallSizes = Array.from({ length: 60 }, (_, i) => 1 + (i % 3));
    const reader = ImageReader.open(await imageThroughSink("held.crimg", smallSizes, 0));
    const offsets = reader.blocks().map((b) => b.offset);
    const chain = new ChainBlocks(() => reader, offsets.map((block) => ({ crid: 1n, block })), { holdTaken: true });
    const want = (i: number) => block(i, smallSizes[i]!);
    const held: Uint8Array[] = [];
    let i = 0;
    for (; !chain.waitsForSlot(1n, offsets[i]!); i++) held.push(await chain.whole(1n, offsets[i]!));
    // Every slot is held: the blocks taken first are still intact.
    expect(i).toBeGreaterThan(30);
    held.forEach((data, k) => expect(Buffer.compare(data, want(k)), `block ${k}`).toBe(0));
    // Taken while it waits for a slot: read by the caller, never started later.
    expect(Buffer.compare(await chain.whole(1n, offsets[i]!), want(i))).toBe(0);
    chain.release(chain.mark());
    for (i++; i < offsets.length; i++) {
      expect(chain.waitsForSlot(1n, offsets[i]!)).toBe(false);
      expect(Buffer.compare(await chain.whole(1n, offsets[i]!), want(i)), `block ${i}`).toBe(0);
    }
    await chain.close();
    reader.close();
  });

  it("hash block bodies on the pool (native XXH64) exactly as the format does, for every length", () => {
    const lengths = [...Array(300).keys()].slice(1).concat([PAGE, 256 * PAGE + 7, (1 << 20) + 13]);
    for (const length of lengths) {
      const data = randomBytes(length);
      expect(nativeXxh64(data), `${length} bytes`).toBe(xxh64(data));
    }
  });

  it("hash each page of a buffer (native, for the hashing tracker) exactly as the format hashes it, from the given index on", () => {
    const data = randomBytes(5 * PAGE);
    const into = new BigUint64Array(7);
    xxh64Pages(data, into, 2);
    expect([...into.subarray(2)]).toEqual([0, 1, 2, 3, 4].map((p) => xxh64(data.subarray(p * PAGE, (p + 1) * PAGE))));
    expect([...into.subarray(0, 2)]).toEqual([0n, 0n]);
    expect(() => xxh64Pages(data.subarray(1), into, 0)).toThrow(/whole pages/);
    expect(() => xxh64Pages(data, into, 3)).toThrow(/room for their hashes/);
  });

  it("fail on a full disk with one error naming the file and offset, leaving nothing behind", async () => {
    const small = join(dir, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", small]);
    try {
      const failed = imageThroughSink("full.crimg", sizes, dataBytes, small);
      await expect(failed).rejects.toThrow(CrError);
      await expect(failed).rejects.toMatchObject({ code: "ENOSPC", path: "full.crimg" });
      await expect(failed).rejects.toThrow(/^writing full\.crimg at offset \d+: /);
      expect(readdirSync(small)).toEqual([]);
      // The space came back: the unnamed file and its O_DIRECT descriptor are both gone.
      await imageThroughSink("fits.crimg", [16], 16 * PAGE, small);
    } finally {
      execFileSync("umount", [small]);
    }
  });
});

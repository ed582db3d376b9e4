import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.js";
import { encodeChunkPrefix, encodeFooter, encodePreamble, FORMAT_MAJOR, identityPair } from "./framing.js";
import { createXxh64 } from "./hash.js";
import { lz4Decompress } from "./lz4.js";
import { ImageReader, verifyImageFile } from "./reader.js";
import { ChunkFlags, ChunkType, HeaderSchema, IndexSchema, PageMapMetaSchema, ReferencesSchema } from "./records.js";
import { encode } from "./schema.js";
import {
  BASE,
  buildFullImage,
  PS,
  sampleFiles,
  sampleProcess,
  sampleSignals,
  sampleThread,
  sampleTracker,
  sampleVmas,
  tmpDir,
} from "./image.test-util.js";
import { ImageWriter } from "./writer.js";

const dir = tmpDir();

describe("image round trip", () => {
  it("reads back every record type exactly as written", async () => {
    const img = await buildFullImage(join(dir, "rt.crimg"));
    const r = ImageReader.open(img.path);
    expect(r.header).toMatchObject({ crid: 1n, parentCrid: 0n, parentIdentity: 0n, kind: 0, pageSize: PS, arch: "x86_64", kernelRelease: "6.18.0", createdMs: 1700000000000n, toolVersion: "cr 0.1.0" });
    expect(r.references).toEqual([]);
    expect(r.records("PROCESS")).toEqual([sampleProcess]);
    expect(r.records("VMAS")).toEqual([sampleVmas]);
    expect(r.records("THREAD")).toEqual([sampleThread, { ...sampleThread, tid: 4243 }]);
    expect(r.record("SIGNALS")).toEqual(sampleSignals);
    expect(r.record("FILES")).toEqual(sampleFiles);
    expect(r.record("TRACKER")).toEqual(sampleTracker);
    expect(r.identity).toBe(img.identity);
    r.close();
  });

  it("reads back every page source of the page map and every page byte", async () => {
    const img = await buildFullImage(join(dir, "pages.crimg"), { blocks: 5, blockPages: 33 });
    const r = ImageReader.open(img.path);
    const map = r.pageMap();
    expect(map).toEqual(img.map);
    expect(new Set(map.map((e) => e.source))).toEqual(new Set(["data", "zero", "file"]));
    for (const b of img.blocks) {
      expect(Buffer.from(r.readBlock(b.offset)).equals(b.data)).toBe(true);
      expect(Buffer.from(r.readPages(b.offset, 3, 5)).equals(b.data.subarray(3 * PS, 8 * PS))).toBe(true);
    }
    // Raw blocks are page aligned and uncompressed; lz4 blocks are smaller than raw.
    const raw = r.block(img.blocks[0]!.offset);
    expect(raw.codec).toBe(0);
    expect(raw.bodyOffset % PS).toBe(0);
    const lz = r.block(img.blocks[1]!.offset);
    expect(lz.codec).toBe(1);
    expect(lz.bodyLength).toBeLessThan(33 * PS);
    const read: number[] = [];
    const v = await r.verify((bytes) => read.push(bytes));
    expect(v.identity).toBe(img.identity);
    expect(v.pages).toBe(5 * 33);
    // Told after each block: where its body ends.
    expect(read).toEqual(img.blocks.map((b) => r.block(b.offset)).map((b) => b.bodyOffset + b.bodyLength));
    expect(await verifyImageFile(img.path)).toEqual(v);
    r.close();
  });

  it("hands out a raw block's chunk span and descriptor, so a caller's own read of it checks like readBlock", async () => {
    const img = await buildFullImage(join(dir, "span.crimg"), { blocks: 3, blockPages: 9 });
    const r = ImageReader.open(img.path);
    const raw = img.blocks[0]!;
    const { start, length } = r.chunkSpan(raw.offset)!;
    const bytes = new Uint8Array(length);
    expect(readSync(r.blockDescriptor, bytes, 0, length, start)).toBe(length);
    expect(Buffer.from(r.readBlock(raw.offset, undefined, { start, bytes })).equals(raw.data)).toBe(true);
    // An lz4 block's end is not aligned: no span.
    expect(r.chunkSpan(img.blocks[1]!.offset)).toBeUndefined();
    r.close();
  });

  it("writes a block carried over with its checked hash byte for byte as one hashed afresh, and a wrong hash is caught by readers", async () => {
    const src = ImageReader.open((await buildFullImage(join(dir, "carry-src.crimg"), { blocks: 2, blockPages: 7 })).path);
    const offset = src.blocks()[0]!.offset;
    const data = src.readBlock(offset);
    const { vaddr, bodyHash } = src.block(offset);
    const write = async (name: string, f: (w: ImageWriter) => Promise<number>) => {
      const p = join(dir, name);
      const fd = openSync(p, "w");
      const w = new ImageWriter(fd, { header: { crid: 4n, pageSize: PS, createdMs: 0n } });
      const off = await f(w);
      await w.writePageMap([{ vaddr, pages: 7, source: "data", block: off, firstPage: 0 }]);
      await w.finish();
      closeSync(fd);
      return p;
    };
    const carried = await write("carried.crimg", (w) => w.writeCheckedPages(vaddr, data, bodyHash));
    const fresh = await write("fresh.crimg", (w) => w.writePages(vaddr, data));
    expect(readFileSync(carried).equals(readFileSync(fresh))).toBe(true);
    const wrong = ImageReader.open(await write("wrong.crimg", (w) => w.writeCheckedPages(vaddr, data, bodyHash ^ 1n)));
    expect(() => wrong.readBlock(wrong.blocks()[0]!.offset)).toThrow(/PAGES body hash mismatch/);
    await expect(wrong.verify()).rejects.toThrow(FormatError);
    for (const r of [src, wrong]) r.close();
  });

  it("stores an lz4 block that does not shrink as raw", async () => {
    const p = join(dir, "incompressible.crimg");
    const fd = openSync(p, "w");
    const w = new ImageWriter(fd, { header: { crid: 3n, pageSize: PS } });
    const data = new Uint8Array(8 * PS);
    for (let i = 0; i < data.length; i++) data[i] = (Math.random() * 256) | 0;
    const off = await w.writePages(BASE, data, "lz4");
    await w.writePageMap([{ vaddr: BASE, pages: 8, source: "data", block: off, firstPage: 0 }]);
    await w.finish();
    closeSync(fd);
    const r = ImageReader.open(p);
    expect(r.block(off).codec).toBe(0);
    expect(Buffer.from(r.readBlock(off)).equals(data)).toBe(true);
    r.close();
  });

  it("decodes LZ4 blocks with the decoder it is given, in readBlock and in verify", async () => {
    const p = join(dir, "decoder.crimg");
    const fd = openSync(p, "w");
    const w = new ImageWriter(fd, { header: { crid: 4n, pageSize: PS } });
    const data = new Uint8Array(8 * PS).fill(7);
    const off = await w.writePages(BASE, data, "lz4");
    await w.writePageMap([{ vaddr: BASE, pages: 8, source: "data", block: off, firstPage: 0 }]);
    await w.finish();
    closeSync(fd);
    const decoded: number[] = [];
    const r = ImageReader.open(p, { decompress: (src, dst) => (decoded.push(dst.length), lz4Decompress(src, dst)) });
    expect(r.block(off).codec).toBe(1);
    expect(Buffer.from(r.readBlock(off)).equals(data)).toBe(true);
    await r.verify();
    expect(decoded).toEqual([8 * PS, 8 * PS]);
    r.close();
  });

  it("refuses writer misuse: unaligned vaddr, DATA to a missing block, REF to an unlisted CRID, PAGES after PAGE_MAP", async () => {
    const fd = openSync(join(dir, "misuse.crimg"), "w");
    const w = new ImageWriter(fd, { header: { crid: 2n, parentCrid: 1n, parentIdentity: 5n, pageSize: PS }, references: [{ crid: 1n, identity: 5n }] });
    await expect(w.writePages(BASE + 1n, new Uint8Array(PS))).rejects.toThrow(/not page aligned/);
    await expect(w.writePages(BASE, new Uint8Array(100))).rejects.toThrow(/multiple of the page size/);
    await expect(w.writePageMap([{ vaddr: BASE, pages: 1, source: "data", block: 999, firstPage: 0 }])).rejects.toThrow(/no PAGES chunk/);
    await expect(w.writePageMap([{ vaddr: BASE, pages: 1, source: "ref", crid: 9n, block: 16, firstPage: 0 }])).rejects.toThrow(/not in the references/);
    await w.writePageMap([{ vaddr: BASE, pages: 1, source: "ref", crid: 1n, block: 16, firstPage: 0 }]);
    await expect(w.writePages(BASE, new Uint8Array(PS))).rejects.toThrow(/after PAGE_MAP/);
    await w.finish();
    closeSync(fd);
  });
});

/** Hand-assembles an image from chunks, the way a future or foreign writer might. */
function assemble(chunks: { type: number; flags?: number; meta: Uint8Array; body?: Uint8Array }[], major = FORMAT_MAJOR): Uint8Array {
  const pre = encodePreamble();
  new DataView(pre.buffer).setUint16(8, major, true);
  const parts: Uint8Array[] = [pre];
  const id = createXxh64().update(pre);
  let pos = pre.length;
  const index: unknown[] = [];
  const push = (type: number, flags: number, meta: Uint8Array, body: Uint8Array) => {
    const bh = body.length ? createXxh64().update(body).digest() : 0n;
    const { bytes, headHash } = encodeChunkPrefix(type, flags, meta, body.length, bh, pos, PS);
    id.update(identityPair(headHash, bh));
    parts.push(bytes, body);
    const off = pos;
    pos += bytes.length + body.length;
    return off;
  };
  for (const c of chunks) {
    const off = push(c.type, c.flags ?? 0, c.meta, c.body ?? new Uint8Array(0));
    index.push({ type: c.type, flags: c.flags ?? 0, reserved: 0, offset: off, vaddr: 0n, pages: 0, codec: 0, reserved2: 0, reserved3: 0 });
  }
  const io = push(ChunkType.INDEX, 0, encode(IndexSchema, { chunks: index as never }), new Uint8Array(0));
  parts.push(encodeFooter(io, id.digest()));
  return Buffer.concat(parts);
}

const header = encode(HeaderSchema, { crid: 7n, parentCrid: 0n, parentIdentity: 0n, kind: 0, pageSize: PS, arch: "x86_64", kernelRelease: "", createdMs: 0n, toolVersion: "" });
const refs = encode(ReferencesSchema, { images: [] });
const emptyMap = encode(PageMapMetaSchema, { entryCount: 0, totalPages: 0 });

describe("versioning and the unknown-type rule", () => {
  it("refuses a newer major version before reading anything else", async () => {
    const p = join(dir, "v2.crimg");
    writeFileSync(p, assemble([{ type: ChunkType.HEADER, meta: header }], 2).subarray(0, 40));
    expect(() => ImageReader.open(p)).toThrow("image format 2.x is newer than this cr (reads 1.x); upgrade cr");
    await expect(verifyImageFile(p)).rejects.toThrow(/2\.x is newer/);
  });

  it("skips an unknown OPTIONAL chunk and refuses an unknown required one with its type and offset", async () => {
    const ok = join(dir, "unknown-optional.crimg");
    const bad = join(dir, "unknown-required.crimg");
    const chunks = (flags: number) => [
      { type: ChunkType.HEADER, meta: header },
      { type: ChunkType.REFERENCES, meta: refs },
      { type: 0x0123, flags, meta: new Uint8Array([1, 2, 3]), body: new Uint8Array([4, 5]) },
      { type: ChunkType.PAGE_MAP, meta: emptyMap },
    ];
    writeFileSync(ok, assemble(chunks(ChunkFlags.OPTIONAL)));
    const r = ImageReader.open(ok);
    expect(r.pageMap()).toEqual([]);
    expect((await r.verify()).chunks).toBe(5);
    r.close();
    writeFileSync(bad, assemble(chunks(0)));
    const offset = 16 + (24 + header.length + 8) + (24 + refs.length + 8);
    expect(() => ImageReader.open(bad)).toThrow(`record type 0x0123 at offset ${offset} is unknown to this cr`);
    await expect(verifyImageFile(bad)).rejects.toThrow(`record type 0x0123 at offset ${offset} is unknown to this cr`);
  });

  it("names path, CRID, offset and both hashes in a body hash mismatch", async () => {
    const img = await buildFullImage(join(dir, "msg.crimg"));
    const bytes = readFileSync(img.path);
    const r0 = ImageReader.open(img.path);
    const b = r0.block(img.blocks[0]!.offset);
    r0.close();
    bytes[b.bodyOffset + 10]! ^= 1;
    writeFileSync(img.path, bytes);
    const r = ImageReader.open(img.path);
    let err: unknown;
    try {
      r.readPages(b.offset, 0, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    const fe = err as FormatError;
    expect(fe.message).toMatch(new RegExp(`^image ${img.path} \\(CRID 1\\) at offset ${b.offset}: PAGES body hash mismatch \\(expected 0x[0-9a-f]{16}, found 0x[0-9a-f]{16}\\)$`));
    expect(fe.crid).toBe(1n);
    expect(fe.offset).toBe(b.offset);
    expect(fe.path).toBe(img.path);
    r.close();
  });
});

import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.js";
import { STREAM_DATA_BYTES, type StreamHeader, type StreamImage, StreamReader, StreamWriter } from "./export-stream.js";
import { xxh64 } from "./hash.js";
import { prng } from "./image.test-util.js";
import { StreamSource } from "./source.js";

const entry = (crid: bigint, parent: bigint, bytes: number): StreamImage => ({
  crid,
  parent,
  identity: 0x1234n + crid,
  bytes,
  time: "2024-01-02T03:04:05.000Z",
  dirtyPages: 7,
  downtimeMs: 1.5,
  totalMs: 9.25,
  tracker: "hashing",
  pid: 4242,
  processKey: "4242:99",
});

function fileBytes(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  return Uint8Array.from({ length: n }, () => r() & 0xff);
}

/** Two images (one spanning several DATA frames when `big`) as a stream, in memory. */
async function writeStream(images: { entry: StreamImage; bytes: Uint8Array }[]): Promise<{ header: StreamHeader; bytes: Buffer }> {
  const header: StreamHeader = { crid: images.at(-1)!.entry.crid, since: 0n, branch: "main", images: images.length, bytes: images.reduce((n, i) => n + i.bytes.byteLength, 0), createdMs: 1n, toolVersion: "test" };
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on("data", (b: Buffer) => parts.push(Buffer.from(b))); // a copy: the writer reuses its buffer once a write is done
  const writer = await StreamWriter.start(out, header);
  for (const i of images) await writer.image(i.entry, (offset, into) => into.set(i.bytes.subarray(offset, offset + into.byteLength)));
  await writer.end();
  out.end();
  return { header, bytes: Buffer.concat(parts) };
}

/** Bytes compared by length and hash (deep-equal of MiBs of bytes is slow). */
const digest = (d: Uint8Array) => `${d.byteLength}:${xxh64(d)}`;

/** Everything a reader finds in `chunks`: the header, then each image's entry and bytes (digest). */
async function readAll(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
  const src = new StreamSource({ path: "<test>", kind: "stream" }, (async function* () {
    yield* chunks;
  })());
  const reader = await StreamReader.open(src);
  const images: { entry: StreamImage; bytes: string }[] = [];
  for (let e = await reader.nextImage(); e !== undefined; e = await reader.nextImage()) {
    const parts: Uint8Array[] = [];
    for (let d = await reader.nextData(); d !== undefined; d = await reader.nextData()) parts.push(d.slice());
    images.push({ entry: e, bytes: digest(Buffer.concat(parts)) });
  }
  return { header: reader.header, images };
}

describe("export streams", () => {
  const small = { entry: entry(1n, 0n, 3000), bytes: fileBytes(3000, 1) };
  const big = { entry: entry(2n, 1n, 2 * STREAM_DATA_BYTES + 5), bytes: fileBytes(2 * STREAM_DATA_BYTES + 5, 2) };

  it("give back every image's entry and bytes, whatever pieces the pipe cuts them into", async () => {
    const { header, bytes } = await writeStream([small, big]);
    const expected = { header, images: [small, big].map((i) => ({ entry: i.entry, bytes: digest(i.bytes) })) };
    expect(await readAll([bytes])).toEqual(expected);
    const pieces = [];
    for (let at = 0; at < bytes.length; at += 4093) pieces.push(bytes.subarray(at, at + 4093));
    expect(await readAll(pieces)).toEqual(expected);
  });

  it("go through a real pipe", async () => {
    const { header, bytes } = await writeStream([small]);
    const cat = spawn("cat", [], { stdio: ["pipe", "pipe", "inherit"] });
    const reading = readAll(cat.stdout);
    cat.stdin.end(bytes);
    expect(await reading).toEqual({ header, images: [{ entry: small.entry, bytes: digest(small.bytes) }] });
  });

  it("refuse a flip of any single byte, naming the stream and an offset", async () => {
    const { bytes } = await writeStream([small, { entry: entry(2n, 1n, 500), bytes: fileBytes(500, 3) }]);
    for (let at = 0; at < bytes.length; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 0x10;
      const error = await readAll([damaged]).catch((e: unknown) => e);
      expect(error, `byte ${at} flipped`).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(/^stream <test>( \(CRID \d+\))? at offset \d+: /);
    }
  });

  it("refuse a stream cut short anywhere, and bytes after END", async () => {
    const { bytes } = await writeStream([small]);
    for (let length = 0; length < bytes.length; length += 7) {
      await expect(readAll([bytes.subarray(0, length)]), `cut at ${length}`).rejects.toThrow(/^stream <test>.* at offset \d+: .*truncated/);
    }
    await expect(readAll([bytes, Buffer.from([0])])).rejects.toThrow(new RegExp(`at offset ${bytes.length}: the end of the stream after END \\(more bytes follow\\)`));
  });

  it("refuse an image file, and a newer stream format", async () => {
    const image = Buffer.from([0x43, 0x52, 0x49, 0x4d, 0x47, 0x00, 0x0d, 0x0a, ...new Array<number>(40).fill(0)]);
    await expect(readAll([image])).rejects.toThrow(/at offset 0: magic "CRSTR\\0\\r\\n": not a stream of cr export/);
    const { bytes } = await writeStream([small]);
    const newer = Buffer.from(bytes);
    newer.writeUInt16LE(2, 8);
    newer.writeBigUInt64LE(xxh64(newer.subarray(0, 16)), 16);
    await expect(readAll([newer])).rejects.toThrow(/stream format 2\.x is newer than this cr \(reads 1\.x\); upgrade cr/);
  });
});

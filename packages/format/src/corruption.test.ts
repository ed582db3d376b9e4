import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.js";
import { createXxh64 } from "./hash.js";
import { buildFullImage, type BuiltImage, prng, tmpDir } from "./image.test-util.js";
import { ImageReader, verifyImageFile } from "./reader.js";
import { RECORD_TYPE_NAMES } from "./records.js";

/** Everything a random-access consumer reads: records, the map, every page. */
function readAll(path: string): unknown {
  const r = ImageReader.open(path);
  try {
    const out: Record<string, unknown> = { header: r.header, references: r.references, identity: r.identity };
    for (const t of RECORD_TYPE_NAMES) out[t] = r.records(t);
    const map = r.pageMap();
    out.map = map;
    // Every page byte, compared through a hash of the whole sequence (cheaper than copies).
    const h = createXxh64();
    for (const e of map) {
      if (e.source !== "data") continue;
      h.update(r.readPages(e.block, e.firstPage, e.pages));
    }
    out.pages = h.digest();
    return out;
  } finally {
    r.close();
  }
}

type Outcome = "error" | "same";

/** Runs both readers on a damaged file: each must throw a FormatError or decode the original. */
async function judge(path: string, original: unknown, identity: bigint, what: string): Promise<[Outcome, Outcome]> {
  let a: Outcome;
  try {
    const got = readAll(path);
    expect(got, `random access after ${what}`).toEqual(original);
    a = "same";
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`random access after ${what}: ${String(e)}`, { cause: e });
    a = "error";
  }
  let b: Outcome;
  try {
    const v = await verifyImageFile(path);
    expect(v.identity, `verify after ${what}`).toBe(identity);
    expect(readAll(path), `verify passed after ${what}, content must be intact`).toEqual(original);
    b = "same";
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`verify after ${what}: ${String(e)}`, { cause: e });
    b = "error";
  }
  return [a, b];
}

describe("damaged images", () => {
  const dir = tmpDir();
  let img: BuiltImage;
  let bytes: Buffer;
  let original: unknown;
  const damaged = join(dir, "damaged.crimg");

  it("builds a multi-MiB image with raw and lz4 blocks and every record type", async () => {
    img = await buildFullImage(join(dir, "good.crimg"), { blocks: 12, blockPages: 64 });
    bytes = readFileSync(img.path);
    expect(bytes.length).toBeGreaterThan(2 << 20);
    original = readAll(img.path);
    expect((await verifyImageFile(img.path)).identity).toBe(img.identity);
  });

  /** Offsets worth hitting: every byte of every chunk head/meta/hash, plus a sample of bodies and padding. */
  function interestingOffsets(): number[] {
    const r = ImageReader.open(img.path);
    const set = new Set<number>();
    for (let i = 0; i < 16; i++) set.add(i); // preamble
    for (let i = bytes.length - 32; i < bytes.length; i++) set.add(i); // footer
    const rnd = prng(7);
    const starts = [...r.chunks.map((c) => c.offset), readFooterIndex()];
    for (let k = 0; k < starts.length; k++) {
      const off = starts[k]!;
      const end = k + 1 < starts.length ? starts[k + 1]! : bytes.length - 32;
      // head: every byte; meta and head hash: up to 16 bytes spread over them.
      for (let i = 0; i < 24; i++) set.add(off + i);
      const metaLen = bytes.readUInt32LE(off + 4);
      for (let i = 0; i < Math.min(metaLen + 8, 16); i++) set.add(off + 24 + Math.floor((i * (metaLen + 8)) / Math.min(metaLen + 8, 16)));
      set.add(off + 24 + metaLen + 7);
      // padding and body: a few random offsets.
      const bodyStart = off + 24 + metaLen + 8;
      if (bytes.readUInt16LE(off + 2) & 2) {
        // ALIGNED: first and last padding byte (no hash covers them).
        set.add(bodyStart);
        set.add(Math.ceil(bodyStart / 4096) * 4096 - 1);
      }
      for (let i = 0; i < 3 && end > bodyStart; i++) set.add(bodyStart + (rnd() % (end - bodyStart)));
    }
    r.close();
    return [...set].sort((a, b) => a - b);
  }
  function readFooterIndex(): number {
    return Number(bytes.readBigUInt64LE(bytes.length - 32));
  }

  it("turns every flipped byte into a FormatError or the original content", async () => {
    const offsets = interestingOffsets();
    expect(offsets.length).toBeGreaterThan(300);
    const counts = { error: 0, same: 0 };
    console.log(`flipping ${offsets.length} offsets`);
    const copy = Buffer.from(bytes);
    for (const [i, off] of offsets.entries()) {
      const mask = i % 2 ? 0x80 : 0x01;
      copy[off]! ^= mask;
      writeFileSync(damaged, copy);
      copy[off]! ^= mask;
      const [a, b] = await judge(damaged, original, img.identity, `flipping byte ${off} with ${mask}`);
      counts[a]++;
      counts[b]++;
    }
    // Only bytes no hash covers (alignment padding, minor version) may decode unchanged.
    expect(counts.error).toBeGreaterThan(counts.same * 5);
  });

  it("turns every truncation into a FormatError", async () => {
    const rnd = prng(3);
    const lengths = new Set<number>([0, 1, 8, 15, 16, 17, 40, bytes.length - 1, bytes.length - 8, bytes.length - 32, bytes.length - 33]);
    const r = ImageReader.open(img.path);
    for (const c of r.chunks) lengths.add(c.offset), lengths.add(c.offset + 1), lengths.add(c.offset + 30);
    r.close();
    while (lengths.size < 120) lengths.add(rnd() % bytes.length);
    for (const n of lengths) {
      writeFileSync(damaged, bytes.subarray(0, n));
      const [a, b] = await judge(damaged, original, img.identity, `truncating to ${n} bytes`);
      expect([a, b], `truncated to ${n}`).toEqual(["error", "error"]);
    }
    // Bytes appended after the footer: random access misses the footer; verify refuses the trailer.
    writeFileSync(damaged, Buffer.concat([bytes, Buffer.from("junk")]));
    const [a, b] = await judge(damaged, original, img.identity, "appending bytes");
    expect([a, b]).toEqual(["error", "error"]);
  });

  it("turns random multi-byte damage into a FormatError or the original content", async () => {
    const rnd = prng(11);
    for (let k = 0; k < 60; k++) {
      const copy = Buffer.from(bytes);
      const at = rnd() % copy.length;
      const n = 1 + (rnd() % 64);
      for (let i = 0; i < n && at + i < copy.length; i++) copy[at + i] = rnd() & 0xff;
      writeFileSync(damaged, copy);
      await judge(damaged, original, img.identity, `overwriting ${n} bytes at ${at}`);
    }
  });
});

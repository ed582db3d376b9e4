import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ResolvedRun, resolveChain, resolvedRuns } from "./chain.js";
import { FormatError } from "./errors.js";
import { BASE, mixedPages, PS, tmpDir, writeImage } from "./image.test-util.js";
import { type PageMapEntry, referencedCrids } from "./pagemap.js";
import { derivePageMap } from "./pagemap-columns.js";
import { ImageReader } from "./reader.js";

const page = (n: number) => BASE + BigInt(n * PS);

/** Reads every page of checkpoint `crid` through resolveChain; returns page number -> bytes ("zero"/"file:off"). */
async function materialize(crid: bigint, open: (c: bigint) => ImageReader): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const run of resolvedRuns(await resolveChain(crid, open))) {
    const first = Number((run.vaddr - BASE) / BigInt(PS));
    for (let i = 0; i < run.pages; i++) out.set(first + i, describeRun(run, i, open));
  }
  return out;
}
function describeRun(run: ResolvedRun, i: number, open: (c: bigint) => ImageReader): string {
  if (run.source === "zero") return "zero";
  if (run.source === "file") return `file:${run.fileOffset + i * PS}`;
  return Buffer.from(open(run.crid).readPages(run.block, run.firstPage + i, 1)).toString("hex");
}

describe("three-image chain", () => {
  const dir = tmpDir();
  const path = (c: bigint) => join(dir, `${c}.crimg`);
  const readers = new Map<bigint, ImageReader>();
  const open = (c: bigint) => {
    let r = readers.get(c);
    if (!r) readers.set(c, (r = ImageReader.open(path(c), { crid: c })));
    return r;
  };
  // The model: page number -> expected content.
  const model = new Map<number, string>();
  const hex = (d: Uint8Array, i: number) => Buffer.from(d.subarray(i * PS, (i + 1) * PS)).toString("hex");
  let id1 = 0n;
  let id2 = 0n;
  let map1: PageMapEntry[] = [];
  let map2: PageMapEntry[] = [];

  it("writes a full image and two incrementals whose REFs point into both earlier images", async () => {
    const a = mixedPages(16, 11);
    const b = mixedPages(16, 12);
    ({ identity: id1, map: map1 } = await writeImage(path(1n), { crid: 1n }, [], async (w) => {
      const oa = await w.writePages(page(0), a, "raw");
      const ob = await w.writePages(page(16), b, "lz4");
      return [
        { vaddr: page(0), pages: 16, source: "data", block: oa, firstPage: 0 },
        { vaddr: page(16), pages: 16, source: "data", block: ob, firstPage: 0 },
        { vaddr: page(32), pages: 4, source: "zero" },
        { vaddr: page(36), pages: 4, source: "file", fileOffset: 0 },
      ];
    }));
    for (let i = 0; i < 16; i++) model.set(i, hex(a, i)), model.set(16 + i, hex(b, i));
    for (let i = 0; i < 4; i++) model.set(32 + i, "zero"), model.set(36 + i, `file:${i * PS}`);
    expect(await materialize(1n, open)).toEqual(model);

    // Image 2: pages 2..5 dirty, page 33 (was zero) now has data.
    const c = mixedPages(4, 21);
    const z = mixedPages(1, 22);
    ({ identity: id2, map: map2 } = await writeImage(path(2n), { crid: 2n, parentCrid: 1n, parentIdentity: id1 }, [{ crid: 1n, identity: id1 }], async (w) => {
      const oc = await w.writePages(page(2), c, "lz4");
      const oz = await w.writePages(page(33), z, "raw");
      const m = derivePageMap({
        parent: map1,
        parentCrid: 1n,
        pageSize: PS,
        changes: [
          { vaddr: page(2), pages: 4, source: "data", block: oc, firstPage: 0 },
          { vaddr: page(33), pages: 1, source: "data", block: oz, firstPage: 0 },
        ],
      });
      expect(referencedCrids(m)).toEqual([1n]);
      return m;
    }));
    for (let i = 0; i < 4; i++) model.set(2 + i, hex(c, i));
    model.set(33, hex(z, 0));
    expect(await materialize(2n, open)).toEqual(model);

    // Image 3: page 4 dirty again, pages 20..22 dirty, the file run unmapped.
    const d = mixedPages(1, 31);
    const e = mixedPages(3, 32);
    await writeImage(path(3n), { crid: 3n, parentCrid: 2n, parentIdentity: id2 }, [
      { crid: 1n, identity: id1 },
      { crid: 2n, identity: id2 },
    ], async (w) => {
      const od = await w.writePages(page(4), d, "raw");
      const oe = await w.writePages(page(20), e, "lz4");
      const m = derivePageMap({
        parent: map2,
        parentCrid: 2n,
        pageSize: PS,
        changes: [
          { vaddr: page(4), pages: 1, source: "data", block: od, firstPage: 0 },
          { vaddr: page(20), pages: 3, source: "data", block: oe, firstPage: 0 },
        ],
        removed: [{ vaddr: page(36), pages: 4 }],
      });
      expect(referencedCrids(m)).toEqual([1n, 2n]);
      // No REF points at a map: every REF names the image that holds the bytes.
      expect(m.filter((x) => x.source === "ref").every((x) => x.source === "ref" && (x.crid === 1n || x.crid === 2n))).toBe(true);
      return m;
    });
    model.set(4, hex(d, 0));
    for (let i = 0; i < 3; i++) model.set(20 + i, hex(e, i));
    for (let i = 0; i < 4; i++) model.delete(36 + i);
    expect(await materialize(3n, open)).toEqual(model);
    const crids = new Set<bigint>();
    for (const run of resolvedRuns(await resolveChain(3n, open))) if (run.source === "ref") crids.add(run.crid);
    expect(crids).toEqual(new Set([1n, 2n, 3n]));
  });

  it("refuses a REF to a missing CRID", async () => {
    const openMissing = (c: bigint) => (c === 1n ? ImageReader.open(join(dir, "nope.crimg")) : open(c));
    await expect(materialize(3n, openMissing)).rejects.toThrow(FormatError);
    await expect(materialize(3n, openMissing)).rejects.toThrow(/CRID 1 to exist \(missing CRID/);
  });

  it("refuses a REF into an image whose identity differs from the recorded one", async () => {
    for (const r of readers.values()) r.close();
    readers.clear();
    rmSync(path(1n));
    await writeImage(path(1n), { crid: 1n }, [], async (w) => {
      const o = await w.writePages(page(0), mixedPages(32, 99), "raw");
      return [{ vaddr: page(0), pages: 32, source: "data", block: o, firstPage: 0 }];
    });
    await expect(materialize(3n, open)).rejects.toThrow(/identity mismatch/);
  });

  it("refuses a REF past the end of the target block or to an offset that is no block", async () => {
    await writeImage(path(5n), { crid: 5n }, [], async (w) => {
      const o = await w.writePages(page(0), mixedPages(8, 5), "raw");
      return [{ vaddr: page(0), pages: 8, source: "data", block: o, firstPage: 0 }];
    });
    const block = open(5n).pageMap()[0]!;
    const id5 = open(5n).identity;
    const mk = async (c: bigint, e: PageMapEntry) =>
      writeImage(path(c), { crid: c, parentCrid: 5n, parentIdentity: id5 }, [{ crid: 5n, identity: id5 }], async () => [e]);
    if (block.source !== "data") throw new Error("unexpected");
    await mk(6n, { vaddr: page(0), pages: 4, source: "ref", crid: 5n, block: block.block, firstPage: 6 });
    await mk(7n, { vaddr: page(0), pages: 1, source: "ref", crid: 5n, block: 1 << 30, firstPage: 0 });
    await expect(materialize(6n, open)).rejects.toThrow(/past the end/);
    await expect(materialize(7n, open)).rejects.toThrow(/past the end or not a block/);
  });
});

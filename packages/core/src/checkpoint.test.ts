import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ImageReader, ImageWriter, PageCodec } from "@cr/format";
import { PAGE_SIZE } from "@cr/native";
import { writeData } from "./checkpoint.js";
import { BLOCK_PAGES, type PageSource } from "./objects/secure-pages.js";
import { totalPages, type PageRun } from "./pages.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const BASE = 0x7f0000000000n;
/** Every page's bytes say which page it is. */
const pageByte = (address: bigint) => Number((address / BigInt(PAGE_SIZE)) % 251n);

/** Pages scattered over 20 blocks: runs of 1 to 7 pages with gaps between them. */
function scatteredRuns(): PageRun[] {
  const runs: PageRun[] = [];
  for (let at = 0, i = 0; totalPages(runs) < 20 * BLOCK_PAGES; i++, at += 11) runs.push({ start: BASE + BigInt(at * PAGE_SIZE), pages: 1 + (i % 7) });
  return runs;
}

/** A source that fills each page with pageByte, each block after a delay of its own, or fails the block `failing`. */
function delayedSource(failing?: number): { source: PageSource; settled: () => number } {
  let settled = 0;
  let call = 0;
  const source: PageSource = async (runs, _first, into) => {
    const block = call++;
    await new Promise((resolve) => setTimeout(resolve, (block * 7) % 5));
    settled++;
    if (block === failing) throw new Error(`block ${block} unreadable`);
    let at = 0;
    for (const run of runs) {
      for (let p = 0; p < run.pages; p++, at += PAGE_SIZE) into.fill(pageByte(run.start + BigInt(p * PAGE_SIZE)), at, at + PAGE_SIZE);
    }
    return into.subarray(0, at);
  };
  return { source, settled: () => settled };
}

function imageFile(): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), "cr-write-data-"));
  dirs.push(dir);
  const path = join(dir, "image");
  return { path, fd: openSync(path, "w+") };
}

function newWriter(fd: number): ImageWriter {
  return new ImageWriter(fd, { header: { crid: 1n, parentCrid: 0n, parentIdentity: 0n, pageSize: PAGE_SIZE, arch: "x86_64", toolVersion: "test" } });
}

describe("writeData", () => {
  for (const codec of ["raw", "lz4"] as const) {
    it(`writes ${codec} blocks in page order, each page's bytes where the page map says, whatever order their reads end in`, async () => {
      const { path, fd } = imageFile();
      const runs = scatteredRuns();
      const writer = newWriter(fd);
      const entries = await writeData(writer, runs, delayedSource().source, codec);
      await writer.writePageMap(entries);
      await writer.finish();
      closeSync(fd);
      expect(entries.reduce((sum, e) => sum + e.pages, 0)).toBe(totalPages(runs));
      expect(entries.map((e) => e.vaddr)).toEqual([...entries.map((e) => e.vaddr)].sort((a, b) => (a < b ? -1 : 1)));
      const reader = ImageReader.open(path);
      try {
        for (const e of entries.filter((_, i) => i % 37 === 0)) {
          if (e.source !== "data") throw new Error("a data entry expected");
          const bytes = reader.readPages(e.block, e.firstPage, e.pages);
          for (let p = 0; p < e.pages; p++) expect(bytes[p * PAGE_SIZE + 5], `page 0x${(e.vaddr + BigInt(p * PAGE_SIZE)).toString(16)}`).toBe(pageByte(e.vaddr + BigInt(p * PAGE_SIZE)));
        }
      } finally {
        reader.close();
      }
    });
  }

  it("fails with the error of a block it could not read, once every block in flight has settled, and reports nothing unhandled", async () => {
    const { fd } = imageFile();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { source, settled } = delayedSource(3); // fails while block 2, slower, is awaited
      await expect(writeData(newWriter(fd), scatteredRuns(), source, "raw")).rejects.toThrow("block 3 unreadable");
      const atFailure = settled();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled(), "nothing was still reading into a slot").toBe(atFailure);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      closeSync(fd);
    }
  });

  it("reads into the same buffers write after write, and an lz4 write's room to compress leaves a raw one's blocks raw", async () => {
    const used: Buffer[][] = [];
    const recording = (inner: PageSource): PageSource => {
      const mine: Buffer[] = [];
      used.push(mine);
      return (runs, first, into) => {
        if (!mine.includes(into)) mine.push(into);
        return inner(runs, first, into);
      };
    };
    for (const codec of ["lz4", "raw"] as const) {
      const { path, fd } = imageFile();
      const writer = newWriter(fd);
      await writer.writePageMap(await writeData(writer, scatteredRuns(), recording(delayedSource().source), codec));
      await writer.finish();
      closeSync(fd);
      const reader = ImageReader.open(path);
      try {
        expect(new Set(reader.blocks().map((b) => b.codec)), codec).toEqual(new Set([codec === "lz4" ? PageCodec.LZ4 : PageCodec.RAW]));
      } finally {
        reader.close();
      }
    }
    expect(used[1]!.length).toBeGreaterThan(0);
    expect(used[1]!.every((buffer) => used[0]!.includes(buffer)), "the raw write read into the lz4 write's buffers").toBe(true);
  });
});


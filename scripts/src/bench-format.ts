/**
 * Image format throughput: write and read 1 GiB of page data (a mix of random, text-like and
 * sparse pages) raw and LZ4, to a file in /tmp (the page cache), plus memcpy for scale.
 * Called by the root `pnpm bench`; run alone with `node scripts/dist/bench-format.js`.
 */
import { randomFillSync } from "node:crypto";
import { closeSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ImageReader, ImageWriter, type PageMapEntry } from "@cr/format";
import { lz4Compress } from "@cr/native";

export interface Row {
  scenario: string;
  value: string;
  target?: string;
}

const PAGE = 4096;
const TOTAL = 1 << 30;
const BLOCK_PAGES = 256;
const BLOCK = BLOCK_PAGES * PAGE;
const POOL = 64 << 20;

/** 64 MiB of pages: 1/3 random, 1/3 text-like (repetitive), 1/3 sparse (mostly zero bytes). */
function makePool(): Buffer {
  const pool = Buffer.alloc(POOL);
  const pages = POOL / PAGE;
  for (let p = 0; p < pages; p++) {
    const page = pool.subarray(p * PAGE, (p + 1) * PAGE);
    switch (p % 3) {
      case 0:
        randomFillSync(page);
        break;
      case 1:
        page.fill(`page ${p}: the quick brown fox jumps over the lazy dog; `);
        break;
      default:
        for (let i = 0; i < 32; i++) page.writeUInt32LE((p * 2654435761 + i) >>> 0, ((i * 131) % (PAGE / 4)) * 4);
    }
  }
  return pool;
}

const gbps = (bytes: number, s: number) => `${(bytes / s / 1e9).toFixed(2)} GB/s (${(bytes / 2 ** 30).toFixed(2)} GiB in ${s.toFixed(2)} s)`;
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** `compress`: the LZ4 compressor (cr's own is the native reference library's; default: @cr/format's TypeScript one). */
async function writeImage(path: string, pool: Buffer, codec: "raw" | "lz4", compress?: (src: Uint8Array, dst: Uint8Array) => number): Promise<{ seconds: number; size: number }> {
  const fd = openSync(path, "w", 0o600);
  const t0 = now();
  const w = new ImageWriter(fd, { header: { crid: 1n, pageSize: PAGE }, ...(compress ? { compress } : {}) });
  const map: PageMapEntry[] = [];
  const base = 0x7f0000000000n;
  for (let off = 0; off < TOTAL; off += BLOCK) {
    const vaddr = base + BigInt(off);
    const block = await w.writePages(vaddr, pool.subarray(off % POOL, (off % POOL) + BLOCK), codec);
    map.push({ vaddr, pages: BLOCK_PAGES, source: "data", block, firstPage: 0 });
  }
  await w.writePageMap(map);
  await w.finish();
  const seconds = now() - t0;
  closeSync(fd);
  return { seconds, size: statSync(path).size };
}

function readImage(path: string): number {
  const t0 = now();
  const r = ImageReader.open(path);
  let bytes = 0;
  const into = new Uint8Array(BLOCK); // a restart reads into its destination: no allocation per block
  for (const e of r.pageMap()) if (e.source === "data") bytes += r.readBlock(e.block, into).byteLength;
  r.close();
  if (bytes !== TOTAL) throw new Error(`read ${bytes} bytes, expected ${TOTAL}`);
  return now() - t0;
}

/** Many one-page blocks, as a coalesce of scattered pages writes them: opening reads their INDEX. */
const SMALL_BLOCKS = 20000;

async function timeOpenOfSmallBlocks(path: string): Promise<number> {
  const fd = openSync(path, "w", 0o600);
  const w = new ImageWriter(fd, { header: { crid: 1n, pageSize: PAGE } });
  const map: PageMapEntry[] = [];
  const page = Buffer.alloc(PAGE, 7);
  for (let i = 0; i < SMALL_BLOCKS; i++) {
    const vaddr = 0x7f0000000000n + BigInt(2 * i * PAGE);
    map.push({ vaddr, pages: 1, source: "data", block: await w.writePages(vaddr, page), firstPage: 0 });
  }
  await w.writePageMap(map);
  await w.finish();
  closeSync(fd);
  const t0 = now();
  ImageReader.open(path).close();
  return now() - t0;
}

export async function benchFormat(): Promise<Row[]> {
  const rows: Row[] = [];
  const pool = makePool();
  const dir = tmpdir();
  for (const codec of ["raw", "lz4"] as const) {
    const path = join(dir, `cr-bench-format-${process.pid}-${codec}.crimg`);
    try {
      await writeImage(path, pool, codec, lz4Compress); // warm-up: page cache pages allocated once
      const w = await writeImage(path, pool, codec, lz4Compress);
      rows.push({
        scenario: `format: write 1 GiB of pages, ${codec}`,
        value: `${gbps(TOTAL, w.seconds)}, image ${(w.size / 2 ** 20).toFixed(0)} MiB`,
        ...(codec === "raw" ? { target: ">= 2 GB/s" } : {}),
      });
      const rs = readImage(path);
      rows.push({ scenario: `format: read + check 1 GiB of pages, ${codec}`, value: gbps(TOTAL, rs) });
      const r = ImageReader.open(path);
      const t0 = now();
      await r.verify();
      const vs = now() - t0;
      r.close();
      rows.push({ scenario: `format: verify() 1 GiB image, ${codec}`, value: gbps(TOTAL, vs) });
      if (codec === "lz4") {
        const ts = await writeImage(path, pool, codec);
        rows.push({ scenario: "format: write 1 GiB of pages, lz4 by @cr/format's TypeScript codec, for scale", value: `${gbps(TOTAL, ts.seconds)}, image ${(ts.size / 2 ** 20).toFixed(0)} MiB` });
      }
    } finally {
      rmSync(path, { force: true });
    }
  }
  const small = join(dir, `cr-bench-format-${process.pid}-small.crimg`);
  try {
    const seconds = await timeOpenOfSmallBlocks(small);
    rows.push({ scenario: `format: open an image of ${SMALL_BLOCKS} one-page blocks`, value: `${(seconds * 1000).toFixed(1)} ms` });
  } finally {
    rmSync(small, { force: true });
  }
  const a = Buffer.alloc(TOTAL, 1);
  const b = Buffer.alloc(TOTAL);
  a.copy(b);
  const t0 = now();
  a.copy(b);
  rows.push({ scenario: "memcpy (Buffer.copy of 1 GiB), for scale", value: gbps(TOTAL, now() - t0) });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const r of await benchFormat()) console.log(`${r.scenario.padEnd(44)} ${r.value}${r.target ? `  (target ${r.target})` : ""}`);
}

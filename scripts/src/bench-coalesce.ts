import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coalesce, Store, syntheticChain } from "@cr/core";
import { gbps, type Row } from "./bench-table.js";

const PAGES = 262_144; // 1 GiB
const IMAGES = 100;
const DIRTY = PAGES / 100;

/**
 * Coalesce throughput over a 100-image chain of 1 GiB (1% of the pages written between
 * images): page bytes written into the new images per second, for collapsing the chain into
 * its newest image and for keeping its last half (target >= 1 GB/s). The chain is synthetic
 * (written through the store exactly as snapshots are), so no 1 GiB process is needed.
 */
export async function benchCoalesce(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const keepLast of [1, IMAGES / 2]) {
    const dir = mkdtempSync(join(tmpdir(), "cr-bench-coalesce-"));
    try {
      const store = Store.open(join(dir, "store"), { create: true });
      await syntheticChain(store, { branch: "main", pages: PAGES, images: IMAGES, dirtyPerImage: DIRTY });
      const result = await coalesce(store, { branch: "main", keepLast });
      rows.push({
        scenario: `coalesce ${IMAGES}-image 1 GiB chain, --keep-last ${keepLast}`,
        value: gbps(result.pageBytesCopied, result.ms),
        target: `>= 1 GB/s (${(result.pageBytesCopied / 2 ** 20).toFixed(0)} MiB in ${result.ms.toFixed(0)} ms, ${result.rewritten.length} image(s) rewritten)`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

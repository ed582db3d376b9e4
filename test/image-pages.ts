// Read back what a checkpoint says the memory of its process was: every page of its page map,
// resolved through the chain of images (REFs followed to the data's own image), with the bytes
// of DATA pages read and checked by the format reader, FILE pages read from the mapped file and
// ZERO pages as zeros. Tests compare this with what the fixture really held.

import { closeSync, openSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ImageReader, resolveChain, resolvedRuns, type VmaRecord } from "@cr/format";

export const PAGE = 4096;

export type PageSourceName = "zero" | "file" | "data";

export interface ImagePage {
  source: PageSourceName;
  /** For DATA: the CRID of the image that holds the bytes. */
  crid?: bigint;
  /** The page's bytes: zeros for ZERO, the file's for FILE, the image's for DATA. */
  bytes: Buffer;
}

export interface CheckpointMemory {
  crid: bigint;
  parent: bigint | null;
  pages: Map<bigint, ImagePage>;
  vmas: VmaRecord[];
  /** Addresses of the pages whose bytes are in this checkpoint's own image. */
  ownData: Set<bigint>;
}

const ZERO_PAGE = Buffer.alloc(PAGE);

/** Opens images of a store branch by CRID, caching the readers; close() closes them all. */
export class ImageCache {
  private readers = new Map<bigint, ImageReader>();
  constructor(
    readonly storeDir: string,
    readonly branch = "main",
  ) {}

  path(crid: bigint): string {
    return join(this.storeDir, "branches", this.branch, `${crid}.crimg`);
  }

  open(crid: bigint): ImageReader {
    let r = this.readers.get(crid);
    if (!r) {
      r = ImageReader.open(this.path(crid), { crid });
      this.readers.set(crid, r);
    }
    return r;
  }

  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }
}

/** Pages of checkpoint `crid` (of branch `branch` of the store at `storeDir`), by address. */
export async function readCheckpointMemory(storeDir: string, crid: bigint, branch = "main"): Promise<CheckpointMemory> {
  const cache = new ImageCache(storeDir, branch);
  try {
    return await readWith(cache, crid);
  } finally {
    cache.close();
  }
}

export async function readWith(cache: ImageCache, crid: bigint): Promise<CheckpointMemory> {
  const top = cache.open(crid);
  const vmas = top.records("VMAS").flatMap((r) => r.vmas);
  const pages = new Map<bigint, ImagePage>();
  const ownData = new Set<bigint>();
  const files = new Map<string, number>();
  try {
    for (const run of resolvedRuns(await resolveChain(crid, (c) => cache.open(c)))) {
      if (run.source === "zero") {
        for (let i = 0; i < run.pages; i++) pages.set(run.vaddr + BigInt(i * PAGE), { source: "zero", bytes: ZERO_PAGE });
      } else if (run.source === "file") {
        const vma = vmas.find((v) => v.start <= run.vaddr && run.vaddr < v.end);
        if (!vma || !vma.path) throw new Error(`FILE run at 0x${run.vaddr.toString(16)} is not inside a file mapping of the image's VMAS`);
        let fd = files.get(vma.path);
        if (fd === undefined) {
          fd = openSync(vma.path, "r");
          files.set(vma.path, fd);
        }
        const buf = Buffer.alloc(run.pages * PAGE);
        readSync(fd, buf, 0, buf.length, run.fileOffset);
        for (let i = 0; i < run.pages; i++) pages.set(run.vaddr + BigInt(i * PAGE), { source: "file", bytes: buf.subarray(i * PAGE, (i + 1) * PAGE) });
      } else {
        const reader = cache.open(run.crid);
        const data = Buffer.from(reader.readPages(run.block, run.firstPage, run.pages));
        for (let i = 0; i < run.pages; i++) {
          const addr = run.vaddr + BigInt(i * PAGE);
          pages.set(addr, { source: "data", crid: run.crid, bytes: data.subarray(i * PAGE, (i + 1) * PAGE) });
          if (run.crid === crid) ownData.add(addr);
        }
      }
    }
  } finally {
    for (const fd of files.values()) closeSync(fd);
  }
  const parent = top.header.parentCrid === 0n ? null : top.header.parentCrid;
  return { crid, parent, pages, vmas, ownData };
}

/** Every image file of a store (all branches), and every file that is not a known store file. */
export function storeFiles(storeDir: string): { images: string[]; strays: string[] } {
  const images: string[] = [];
  const strays: string[] = [];
  const known = new Set(["cr-store.json", "lock", "next-crid", "branches"]);
  for (const name of readdirSync(storeDir)) if (!known.has(name)) strays.push(join(storeDir, name));
  const branches = join(storeDir, "branches");
  for (const b of readdirSync(branches)) {
    for (const name of readdirSync(join(branches, b))) {
      const p = join(branches, b, name);
      if (/^[1-9][0-9]*\.crimg$/.test(name)) images.push(p);
      else if (name !== "branch.json") strays.push(p);
    }
  }
  return { images, strays };
}

/**
 * Resolves the whole chain of `crid` and reads every DATA page (so every block hash on the way is
 * checked). Throws on the first problem.
 */
export async function verifyChain(storeDir: string, crid: bigint, branch = "main"): Promise<number> {
  const mem = await readCheckpointMemory(storeDir, crid, branch);
  return mem.pages.size;
}

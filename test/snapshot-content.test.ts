// An image holds exactly the memory of the process at the freeze instant. tracker_target is idle
// between commands, so its memory is known when it is frozen: several regions filled with
// patterns (some pages never touched), a private file mapping with a few COW'd pages. The full
// image must give exactly those pages (untouched file pages as FILE, COW'd ones as DATA, never
// touched ones absent); an incremental image three increments deep, resolved through its chain,
// must give exactly the memory at its own instant, and so must every older image of the chain.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot, type SnapshotResult } from "@cr/core";
import { cleanupTmp, fixtures, startFixture, tmpDir, type Fixture } from "./harness.js";
import { ImageCache, PAGE, readWith, type CheckpointMemory } from "./image-pages.js";
import { compareWithModel, expectNoMismatch, MemoryModel, type Region } from "./memory-model.js";
import { patternPages } from "./patterns.js";

describe("snapshot content", () => {
  let t: Fixture;
  let dir: string;
  let store: string;
  let model: MemoryModel;
  let fileBytes: Buffer;
  let filePath: string;
  const taken: { result: SnapshotResult; state: ReturnType<MemoryModel["frozen"]> }[] = [];

  beforeAll(async () => {
    dir = tmpDir("cr-content-");
    store = join(dir, "store");
    filePath = join(dir, "mapped.bin");
    fileBytes = patternPages(900, 0, 24);
    writeFileSync(filePath, fileBytes);
    t = await startFixture("tracker_target");
    await t.waitReady();
    model = new MemoryModel(t);
  });

  afterAll(async () => {
    await fixtures.stopAll();
    cleanupTmp();
  });

  /** Page sources: untouched file pages FILE, COW'd ones DATA; every live region inside the image's VMAs. */
  function sourceChecks(mem: CheckpointMemory, regions: Region[], context: string): void {
    const problems: string[] = [];
    for (const r of regions) {
      for (let p = 0; p < r.pages; p++) {
        const addr = r.addr + BigInt(p * PAGE);
        const want = r.content[p];
        if (want === "gone") continue;
        const vma = mem.vmas.find((v) => v.start <= addr && addr < v.end);
        if (!vma) problems.push(`region ${r.id} page ${p} (0x${addr.toString(16)}) is in no VMA of the image`);
        else if (r.file && vma.path !== filePath) problems.push(`region ${r.id}: VMA path ${vma.path}, want ${filePath}`);
        const got = mem.pages.get(addr);
        if (r.file && want instanceof Buffer && got) {
          const untouched = want.equals(fileBytes.subarray(p * PAGE, (p + 1) * PAGE));
          if (untouched && got.source !== "file") problems.push(`region ${r.id} page ${p}: an untouched file page saved as ${got.source}, not FILE`);
          if (!untouched && got.source !== "data") problems.push(`region ${r.id} page ${p}: a COW'd file page saved as ${got.source}, not DATA`);
        }
      }
    }
    expect(problems.slice(0, 15), `${context}: ${problems.length} problem(s)`).toEqual([]);
  }

  /** Pages the process never touched, or dropped (MADV_DONTNEED), are not in the map (docs/format.md: "a page absent from the map has no saved content"). */
  function absentChecks(mem: CheckpointMemory, regions: Region[], context: string): void {
    const problems: string[] = [];
    for (const r of regions) {
      for (let p = 0; p < r.pages; p++) {
        const addr = r.addr + BigInt(p * PAGE);
        const got = mem.pages.get(addr);
        if (r.content[p] === null && got) {
          problems.push(`region ${r.id} page ${p} (0x${addr.toString(16)}): never touched or dropped, yet the map has a ${got.source} page${got.crid !== undefined ? ` (bytes in CRID ${got.crid})` : ""}`);
        }
      }
    }
    expect(problems.slice(0, 12), `${context}: ${problems.length} page(s) stored that the process does not have`).toEqual([]);
  }

  async function take(incremental: boolean, codec: "raw" | "lz4" = "raw"): Promise<SnapshotResult> {
    const result = await snapshot(t.pid, { store, incremental, codec });
    taken.push({ result, state: model.frozen() });
    return result;
  }

  async function check(i: number, cache: ImageCache): Promise<CheckpointMemory> {
    const { result, state } = taken[i]!;
    const mem = await readWith(cache, result.crid);
    const context = `image ${i} (CRID ${result.crid}${result.parent !== null ? `, parent ${result.parent}` : ", full"})`;
    expectNoMismatch(compareWithModel(mem, state), context);
    sourceChecks(mem, state.regions, context);
    return mem;
  }

  it("a full image holds exactly the process's memory; file pages untouched are FILE", async () => {
    await model.map(0, 32);
    await model.write(0, 0, 32, 1);
    await model.map(1, 100);
    await model.write(1, 10, 20, 2); // 80 pages never touched
    await model.mapFile(2, filePath, fileBytes, join(dir, "fault-in.bin"));
    await model.write(2, 5, 3, 3); // COW
    await model.write(2, 23, 1, 4);
    const full = await take(false);
    expect(full.parent).toBeNull();
    const cache = new ImageCache(store);
    try {
      const mem = await check(0, cache);
      expect(mem.parent).toBeNull();
      expect([...mem.pages.values()].some((p) => p.source === "file"), "some FILE pages").toBe(true);
    } finally {
      cache.close();
    }
  });

  it("an incremental image three increments deep resolves to exactly its memory, and so does every older one", async () => {
    await model.write(0, 0, 4, 11);
    await model.write(1, 50, 5, 12);
    await take(true);

    await model.write(1, 10, 2, 13);
    await model.write(2, 20, 1, 14);
    await model.dontneed(0, 16, 4);
    await take(true, "lz4");

    await model.write(0, 30, 2, 15);
    await model.map(4, 10);
    await model.write(4, 0, 10, 16);
    await model.munmap(1, 90, 10);
    await take(true);

    for (let i = 1; i < taken.length; i++) expect(taken[i]!.result.parent, `image ${i}'s parent`).toBe(taken[i - 1]!.result.crid);

    const cache = new ImageCache(store);
    try {
      const top = await check(3, cache);
      // It is an increment: most of its bytes are in the earlier images.
      const crids = new Set([...top.pages.values()].filter((p) => p.source === "data").map((p) => p.crid));
      expect(crids.has(taken[0]!.result.crid), "the deepest image references the full image's data").toBe(true);
      expect(top.ownData.size, "pages in the top image itself").toBeLessThan([...top.pages.values()].filter((p) => p.source === "data").length);
      for (let i = 0; i < 3; i++) await check(i, cache);
    } finally {
      cache.close();
    }
  });

  it("never-touched and dropped pages are stored in no image of the chain (not even as zero DATA)", async () => {
    expect(taken.length).toBe(4);
    const cache = new ImageCache(store);
    try {
      for (let i = 0; i < taken.length; i++) {
        const mem = await readWith(cache, taken[i]!.result.crid);
        absentChecks(mem, taken[i]!.state.regions, `image ${i} (CRID ${taken[i]!.result.crid}, tracker ${taken[i]!.result.tracker})`);
      }
    } finally {
      cache.close();
    }
  });

  it("an lz4 image of many blocks, compressed on the pool in parallel, holds exactly the process's memory", async () => {
    const text = Buffer.alloc(1024 * PAGE, Array.from({ length: 97 }, (_, i) => `line ${i} of a text that compresses\n`).join(""));
    const path = join(dir, "text.bin");
    writeFileSync(path, text);
    await model.map(5, 2048); // 8 blocks: half compressible, half random pages that stay raw
    await model.kread(5, 0, 1024, path, text);
    await model.write(5, 1024, 1024, 21);
    const result = await take(false, "lz4");
    expect(result.bytes, "the compressible half shrank").toBeLessThan(1536 * PAGE);
    const cache = new ImageCache(store);
    try {
      await check(taken.length - 1, cache);
    } finally {
      cache.close();
    }
  });
});

// What tracker_target's regions hold, kept in step with the commands a test sends, so a test can
// compare a checkpoint's pages with the memory of the process at the freeze instant.

import { expect } from "vitest";
import type { Fixture } from "./harness.js";
import { PAGE, type CheckpointMemory } from "./image-pages.js";
import { patternPages } from "./patterns.js";

/** A page's expected content: its bytes, null (never written or dropped: zeros), or gone (unmapped). */
export type PageContent = Buffer | null | "gone";

export interface Region {
  id: number;
  addr: bigint;
  pages: number;
  content: PageContent[];
  /** A private file mapping: its untouched pages may be FILE. */
  file: boolean;
  /** Shared memory (anonymous, a memfd): MADV_DONTNEED keeps its bytes (they are the shmem object's). */
  shared?: boolean;
}

export function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += 8) if (buf.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

/** Sends one tracker_target command; throws on an `error ...` or `mismatch ...` reply. */
export async function cmd(t: Fixture, line: string): Promise<string> {
  const reply = await t.command(line, 20_000);
  if (reply.startsWith("error") || reply.startsWith("mismatch") || reply.startsWith("nonzero")) {
    throw new Error(`tracker_target: '${line}' -> ${reply}`);
  }
  return reply;
}

export class MemoryModel {
  readonly regions = new Map<number, Region>();
  /** Addresses that held pages once and were unmapped since (munmap, free, mremap's old place). */
  readonly removed = new Set<bigint>();
  /** Pages written since the last snapshot (addresses). */
  written = new Set<bigint>();

  constructor(readonly t: Fixture) {}

  addrOf(id: number, page: number): bigint {
    return this.regions.get(id)!.addr + BigInt(page * PAGE);
  }

  async map(id: number, pages: number, shared: boolean | "memfd" = false): Promise<Region> {
    const command = shared === "memfd" ? "mapmemfd" : shared ? "mapshared" : "map";
    const addr = BigInt(await cmd(this.t, `${command} ${id} ${pages}`));
    const r: Region = { id, addr, pages, content: new Array<PageContent>(pages).fill(null), file: false, shared: shared !== false };
    this.regions.set(id, r);
    return r;
  }

  /** A private RW mapping of `path` whose bytes are `bytes`; every page read once (so present, FILE). */
  async mapFile(id: number, path: string, bytes: Buffer, dumpTo: string): Promise<Region> {
    const pages = bytes.length / PAGE;
    const addr = BigInt(await cmd(this.t, `mapfile ${id} ${path} ${pages}`));
    const content: PageContent[] = [];
    for (let p = 0; p < pages; p++) content.push(Buffer.from(bytes.subarray(p * PAGE, (p + 1) * PAGE)));
    const r: Region = { id, addr, pages, content, file: true };
    this.regions.set(id, r);
    await cmd(this.t, `dump ${id} ${dumpTo}`); // faults every page in, unmodified
    return r;
  }

  private markWritten(r: Region, first: number, count: number): void {
    for (let p = first; p < first + count; p++) this.written.add(r.addr + BigInt(p * PAGE));
  }

  async write(id: number, first: number, count: number, seed: number, how: "write" | "twrite" = "write"): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `${how} ${id} ${first} ${count} ${seed}`);
    const data = patternPages(seed, first, count);
    for (let p = 0; p < count; p++) r.content[first + p] = data.subarray(p * PAGE, (p + 1) * PAGE);
    this.markWritten(r, first, count);
  }

  /** read(2) `count` pages of `path` (whose bytes are `bytes`) into the region: a kernel write. */
  async kread(id: number, first: number, count: number, path: string, bytes: Buffer): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `kread ${id} ${first} ${count} ${path}`);
    for (let p = 0; p < count; p++) r.content[first + p] = bytes.subarray(p * PAGE, (p + 1) * PAGE);
    this.markWritten(r, first, count);
  }

  async dontneed(id: number, first: number, count: number): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `dontneed ${id} ${first} ${count}`);
    if (!r.shared) for (let p = first; p < first + count; p++) r.content[p] = null;
  }

  /** mprotect of the whole region, read-only or read-write: its bytes stay. */
  async protect(id: number, access: "ro" | "rw"): Promise<void> {
    await cmd(this.t, `protect ${id} ${access}`);
  }

  /** MADV_REMOVE of shared memory: the object loses the pages (they read as zeros). */
  async remove(id: number, first: number, count: number): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `remove ${id} ${first} ${count}`);
    for (let p = first; p < first + count; p++) r.content[p] = null;
  }

  /** MADV_DONTDUMP changes nothing the image holds: the pages are saved as any others. */
  async dontdump(id: number): Promise<void> {
    await cmd(this.t, `dontdump ${id}`);
  }

  async mremap(id: number, pages: number): Promise<bigint> {
    const r = this.regions.get(id)!;
    const addr = BigInt(await cmd(this.t, `mremap ${id} ${pages}`));
    for (let p = 0; p < r.pages; p++) this.removed.add(r.addr + BigInt(p * PAGE));
    const content: PageContent[] = [];
    for (let p = 0; p < pages; p++) content.push(p < r.pages ? r.content[p]! : null);
    r.addr = addr;
    r.pages = pages;
    r.content = content;
    return addr;
  }

  async munmap(id: number, first: number, count: number): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `munmap ${id} ${first} ${count}`);
    for (let p = first; p < first + count; p++) {
      r.content[p] = "gone";
      this.removed.add(r.addr + BigInt(p * PAGE));
    }
  }

  async free(id: number): Promise<void> {
    const r = this.regions.get(id)!;
    await cmd(this.t, `free ${id}`);
    for (let p = 0; p < r.pages; p++) this.removed.add(r.addr + BigInt(p * PAGE));
    this.regions.delete(id);
  }

  /** A deep copy of the regions (the memory at this instant), for checking an older checkpoint later. */
  frozen(): { regions: Region[]; removed: Set<bigint> } {
    return {
      regions: [...this.regions.values()].map((r) => ({ ...r, content: [...r.content] })),
      removed: new Set(this.removed),
    };
  }
}

export interface Mismatch {
  addr: bigint;
  what: string;
}

/**
 * Compares a checkpoint's pages with the model: every written page with its bytes, zero pages
 * zero or absent, removed pages absent. Returns every mismatch.
 */
export function compareWithModel(mem: CheckpointMemory, state: { regions: Iterable<Region>; removed: Set<bigint> }): Mismatch[] {
  const out: Mismatch[] = [];
  const live = new Set<bigint>();
  for (const r of state.regions) {
    for (let p = 0; p < r.pages; p++) {
      const addr = r.addr + BigInt(p * PAGE);
      const want = r.content[p]!;
      const got = mem.pages.get(addr);
      const where = `region ${r.id} page ${p}`;
      if (want === "gone") {
        if (got) out.push({ addr, what: `${where}: unmapped, but the image has a ${got.source} page` });
        continue;
      }
      live.add(addr);
      if (want === null) {
        if (got && !isZero(got.bytes)) out.push({ addr, what: `${where}: should be zero (never written / dropped), image has non-zero ${got.source} bytes` });
        continue;
      }
      if (!got) out.push({ addr, what: `${where}: written, missing from the image` });
      else if (!got.bytes.equals(want)) out.push({ addr, what: `${where}: bytes differ (${got.source}${got.crid !== undefined ? ` in CRID ${got.crid}` : ""})` });
      else if (!r.file && got.source !== "data") out.push({ addr, what: `${where}: anonymous data page has source ${got.source}` });
    }
  }
  for (const addr of state.removed) {
    if (live.has(addr)) continue;
    const got = mem.pages.get(addr);
    if (got) out.push({ addr, what: `removed page 0x${addr.toString(16)} still in the image (${got.source})` });
  }
  return out;
}

export function expectNoMismatch(list: Mismatch[], context: string): void {
  const shown = list.slice(0, 15).map((m) => `  0x${m.addr.toString(16)} ${m.what}`);
  expect(list.length, `${context}: ${list.length} page(s) wrong:\n${shown.join("\n")}`).toBe(0);
}

// Reading the blocks a chain's page runs point into: restart and coalesce walk runs in address
// order, and each image's blocks are in address order too, so keeping the last block of every
// image reads each block once. Raw blocks are read ahead on libuv's pool (direct-io.ts).
import type { ImageReader, PageColumns } from "@cr/format";
import { alignedBuffer } from "@cr/native";
import { BlockReadAhead } from "./direct-io.js";
import { CrError } from "../errors.js";

export interface BlockUse {
  crid: bigint;
  block: number;
}

/** The block of an image read last, checked. */
interface CachedBlock {
  block: number;
  data: Uint8Array;
  pageSize: number;
}

/**
 * The blocks a walk of `map` in order reads for the runs `wanted` picks: a holder's block once
 * each time it changes (`crids[holder]` names the image). A plain loop over the columns (~225
 * thousand runs at depth 100): a generator of an object per run took ~60 ms of a fresh
 * `cr restart`, before V8 had compiled it.
 */
export function blockUses(map: PageColumns, crids: readonly bigint[], wanted: (source: number) => boolean): BlockUse[] {
  const last = new Float64Array(crids.length).fill(-1);
  const uses: BlockUse[] = [];
  for (let i = 0; i < map.length; i++) {
    const holder = map.holder[i]!;
    const block = map.block[i]!;
    if (!wanted(map.source[i]!) || last[holder] === block) continue;
    last[holder] = block;
    uses.push({ crid: crids[holder]!, block });
  }
  return uses;
}

/** A REF past its block (a damaged map): it must not come back short and be copied as if whole. */
export function pagesPastBlock(path: string, crid: bigint, block: number, first: number, count: number, have: number): CrError {
  return new CrError(`pages ${first}..${first + count} of the ${have}-page block at offset ${block} of ${path}`, { code: "BAD_IMAGE", crid, path, offset: block });
}

export class ChainBlocks {
  private readonly last = new Map<bigint, CachedBlock>();
  /** Each image's own buffer for blocks not read ahead (LZ4), reused for its next one. */
  private readonly owned = new Map<bigint, Uint8Array>();
  private readonly ahead: BlockReadAhead;

  /**
   * `uses`: every block the caller will ask for, in the order it will (repeats allowed).
   * `holdTaken`: see BlockReadAhead (a block's bytes stay valid until release()).
   */
  constructor(
    private readonly open: (crid: bigint) => ImageReader,
    uses: Iterable<BlockUse>,
    options: { holdTaken?: boolean } = {},
  ) {
    this.ahead = new BlockReadAhead(this.reads(uses), options);
  }

  /** The memory of the blocks read ahead, if any: the bytes of most blocks are views of it. */
  get memory(): Buffer | undefined {
    return this.ahead.memory;
  }

  mark(): number {
    return this.ahead.mark();
  }

  release(mark: number): void {
    this.ahead.release(mark);
  }

  waitsForSlot(crid: bigint, block: number): boolean {
    return this.ahead.waitsForSlot(crid, block);
  }

  /** The blocks `uses` makes this read, in order: a block is read again only after another block of its image. */
  private *reads(uses: Iterable<BlockUse>): Generator<{ crid: bigint; reader: ImageReader; block: number }> {
    const last = new Map<bigint, number>();
    for (const { crid, block } of uses) {
      if (last.get(crid) === block) continue;
      last.set(crid, block);
      yield { crid, reader: this.open(crid), block };
    }
  }

  /** Pages [first, first+count) of a block, checked; valid until the next call for `crid` (see holdTaken). */
  async pages(crid: bigint, block: number, first: number, count: number): Promise<Uint8Array> {
    return this.cachedPages(crid, block, first, count) ?? this.slice(crid, await this.load(crid, block), first, count);
  }

  /**
   * The same without waiting, when `block` is the one read last for `crid` (else undefined):
   * a deep chain's runs are mostly single pages, and an await each would cost more than the copy.
   */
  cachedPages(crid: bigint, block: number, first: number, count: number): Uint8Array | undefined {
    const cached = this.last.get(crid);
    return cached?.block === block ? this.slice(crid, cached, first, count) : undefined;
  }

  /** A whole block, checked; valid as pages() is (with holdTaken: until release() covers it). */
  async whole(crid: bigint, block: number): Promise<Uint8Array> {
    const cached = this.last.get(crid);
    return cached?.block === block ? cached.data : (await this.load(crid, block)).data;
  }

  private async load(crid: bigint, block: number): Promise<CachedBlock> {
    const reader = this.open(crid);
    const span = await this.ahead.take(crid, block);
    const pageSize = reader.header.pageSize;
    const data = span ? reader.readBlock(block, undefined, span) : reader.readBlock(block, this.ownBuffer(crid, reader.block(block).pages * pageSize));
    const cached = { block, data, pageSize };
    this.last.set(crid, cached);
    return cached;
  }

  private slice(crid: bigint, { block, data, pageSize }: CachedBlock, first: number, count: number): Uint8Array {
    const have = data.byteLength / pageSize;
    if (first + count > have) throw pagesPastBlock(this.open(crid).path, crid, block, first, count, have);
    return data.subarray(first * pageSize, (first + count) * pageSize);
  }

  async close(): Promise<void> {
    await this.ahead.close();
  }

  private ownBuffer(crid: bigint, size: number): Uint8Array {
    let buffer = this.owned.get(crid);
    // Aligned: a large image's blocks not read ahead (LZ4) still go around the cache.
    if (!buffer || buffer.byteLength < size) this.owned.set(crid, (buffer = alignedBuffer(size)));
    return buffer.subarray(0, size);
  }
}

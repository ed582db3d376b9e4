/**
 * resolveChain: for every run of a checkpoint's page map, where its bytes are. REFs are
 * followed exactly one step (they point at data, never at maps), so the cost is O(pages)
 * whatever the chain depth; every REF is checked against REFERENCES, the target image's
 * identity, and the target's PAGES blocks.
 */
import { FormatError, hex64 } from "./errors.js";
import type { PageCodec } from "./records.js";
import type { ImageReader } from "./reader.js";

export type ResolvedRun =
  | { vaddr: bigint; pages: number; source: "zero" }
  | { vaddr: bigint; pages: number; source: "file"; fileOffset: number }
  | {
      vaddr: bigint;
      pages: number;
      source: "data";
      /** CRID of the image holding the bytes (the checkpoint itself or an earlier one). */
      crid: bigint;
      /** Offset of the PAGES chunk in that image. */
      block: number;
      firstPage: number;
      codec: PageCodec;
    };

export type OpenImage = (crid: bigint) => ImageReader | Promise<ImageReader>;

/**
 * Yields the runs of checkpoint `crid` in address order. `open` returns the reader of an
 * image by CRID (it may throw for a missing one; the error is wrapped in a FormatError
 * naming the REF). Readers opened here are not closed: `open` owns them (cache them there).
 */
export async function* resolveChain(crid: bigint, open: OpenImage): AsyncGenerator<ResolvedRun> {
  const top = await open(crid);
  const map = top.pageMap();
  const refs = new Map(top.references.map((r) => [r.crid, r.identity]));
  const targets = new Map<bigint, ImageReader>([[crid, top]]);
  let i = -1;
  const where = (what: string, vaddr: bigint) =>
    new FormatError({ path: top.path, crid: top.header.crid }, top.pageMapEntryOffset(i), `${what} (REF for vaddr 0x${vaddr.toString(16)})`);

  for (const e of map) {
    i++;
    switch (e.source) {
      case "zero":
        yield { vaddr: e.vaddr, pages: e.pages, source: "zero" };
        break;
      case "file":
        yield { vaddr: e.vaddr, pages: e.pages, source: "file", fileOffset: e.fileOffset };
        break;
      case "data":
        yield { vaddr: e.vaddr, pages: e.pages, source: "data", crid, block: e.block, firstPage: e.firstPage, codec: top.block(e.block).codec };
        break;
      case "ref": {
        const expected = refs.get(e.crid);
        if (expected === undefined) throw where(`CRID ${e.crid} listed in REFERENCES`, e.vaddr);
        let t = targets.get(e.crid);
        if (!t) {
          try {
            t = await open(e.crid);
          } catch (err) {
            if (err instanceof FormatError) throw err;
            throw where(`image of CRID ${e.crid} to exist (missing CRID: ${(err as Error).message})`, e.vaddr);
          }
          if (t.header.crid !== e.crid) throw where(`image of CRID ${e.crid}, found CRID ${t.header.crid} in ${t.path}`, e.vaddr);
          if (t.identity !== expected) {
            throw where(`identity of CRID ${e.crid} ${hex64(expected)} (identity mismatch: ${t.path} has ${hex64(t.identity)})`, e.vaddr);
          }
          targets.set(e.crid, t);
        }
        const have = t.blockPages(e.block);
        if (have === undefined) throw where(`a PAGES chunk at offset ${e.block} of CRID ${e.crid} (past the end or not a block)`, e.vaddr);
        if (e.firstPage + e.pages > have) {
          throw where(`pages ${e.firstPage}..${e.firstPage + e.pages} within the ${have} of block ${e.block} of CRID ${e.crid} (past the end)`, e.vaddr);
        }
        yield { vaddr: e.vaddr, pages: e.pages, source: "data", crid: e.crid, block: e.block, firstPage: e.firstPage, codec: t.block(e.block).codec };
        break;
      }
    }
  }
}

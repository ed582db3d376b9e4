/**
 * resolveChain: for every run of a checkpoint's page map, where its bytes are. REFs are
 * followed exactly one step (they point at data, never at maps), so the cost is O(pages)
 * whatever the chain depth; every REF is checked against REFERENCES, the target image's
 * identity, and the target's PAGES blocks.
 */
import { FormatError, hex64 } from "./errors.js";
import type { FileRun, RefRun, ZeroRun } from "./pagemap.js";
import type { ImageReader } from "./reader.js";

/**
 * A run with bytes is a REF naming the image that holds them: the checkpoint's own DATA
 * becomes a REF to its own CRID, and the map's REF entries are returned as they are (a deep
 * chain's map has hundreds of thousands, and a copy of each costs more than the check).
 */
export type ResolvedRun = ZeroRun | FileRun | RefRun;

export type OpenImage = (crid: bigint) => ImageReader | Promise<ImageReader>;

/**
 * The runs of checkpoint `crid` in address order. `open` returns the reader of an image by
 * CRID (it may throw for a missing one; the error is wrapped in a FormatError naming the
 * REF). Readers opened here are not closed: `open` owns them (cache them there). One array,
 * not a generator: a deep chain's map has hundreds of thousands of runs, and an await each
 * would cost more than the rest of the work.
 */
export async function resolveChain(crid: bigint, open: OpenImage): Promise<ResolvedRun[]> {
  const top = await open(crid);
  const map = top.pageMap();
  const refs = new Map(top.references.map((r) => [r.crid, r.identity]));
  /** The images REFs point into, each checked once: listed in REFERENCES, with the identity listed there. */
  const targets = new Map<bigint, ImageReader>();
  const runs: ResolvedRun[] = [];
  let i = -1;
  const where = (what: string, vaddr: bigint) =>
    new FormatError({ path: top.path, crid: top.header.crid }, top.pageMapEntryOffset(i), `${what} (REF for vaddr 0x${vaddr.toString(16)})`);
  const openTarget = async (target: bigint, vaddr: bigint): Promise<ImageReader> => {
    const expected = refs.get(target);
    if (expected === undefined) throw where(`CRID ${target} listed in REFERENCES`, vaddr);
    let t: ImageReader;
    try {
      t = await open(target);
    } catch (err) {
      if (err instanceof FormatError) throw err;
      throw where(`image of CRID ${target} to exist (missing CRID: ${(err as Error).message})`, vaddr);
    }
    if (t.header.crid !== target) throw where(`image of CRID ${target}, found CRID ${t.header.crid} in ${t.path}`, vaddr);
    if (t.identity !== expected) throw where(`identity of CRID ${target} ${hex64(expected)} (identity mismatch: ${t.path} has ${hex64(t.identity)})`, vaddr);
    return t;
  };

  for (const e of map) {
    i++;
    switch (e.source) {
      case "zero":
      case "file":
        runs.push(e);
        break;
      case "data":
        runs.push({ vaddr: e.vaddr, pages: e.pages, source: "ref", crid, block: e.block, firstPage: e.firstPage });
        break;
      case "ref": {
        let t = targets.get(e.crid);
        if (!t) targets.set(e.crid, (t = await openTarget(e.crid, e.vaddr)));
        const have = t.blockPages(e.block);
        if (have === undefined) throw where(`a PAGES chunk at offset ${e.block} of CRID ${e.crid} (past the end or not a block)`, e.vaddr);
        if (e.firstPage + e.pages > have) {
          throw where(`pages ${e.firstPage}..${e.firstPage + e.pages} within the ${have} of block ${e.block} of CRID ${e.crid} (past the end)`, e.vaddr);
        }
        runs.push(e);
        break;
      }
    }
  }
  return runs;
}

/**
 * resolveChain: for every run of a checkpoint's page map, where its bytes are. REFs are
 * followed exactly one step (they point at data, never at maps), so the cost is O(pages)
 * whatever the chain depth; every REF is checked against REFERENCES, the target image's
 * identity, and the target's PAGES blocks.
 */
import { FormatError, hex64 } from "./errors.js";
import { type FileRun, PageSource, type RefRun, type ZeroRun } from "./pagemap.js";
import { columnEntries, type PageColumns } from "./pagemap-columns.js";
import type { ImageReader } from "./reader.js";

/**
 * The checkpoint's page map as columns (pagemap-columns.ts), checked, and the CRID of each holder a
 * DATA or REF entry names: `crids[map.holder[i]]` holds entry i's bytes (the checkpoint's own
 * CRID last, for its DATA). Columns, not an object per run: a deep chain's map has hundreds of
 * thousands of runs, and an object each costs more than the rest of a restart's work with them.
 */
export interface ResolvedChain {
  map: PageColumns;
  crids: readonly bigint[];
  pageSize: number;
}

export type OpenImage = (crid: bigint) => ImageReader | Promise<ImageReader>;

/**
 * Checkpoint `crid`'s map (of process section `section`: 0, the root, in a tree image), with every REF checked. `open` returns the reader of an image by
 * CRID (it may throw for a missing one; the error is wrapped in a FormatError naming the
 * REF). Readers opened here are not closed: `open` owns them (cache them there).
 */
export async function resolveChain(crid: bigint, open: OpenImage, section = 0): Promise<ResolvedChain> {
  const top = await open(crid);
  const map = top.pageColumnsIn(section);
  const crids = top.holderCrids;
  /** Each holder a REF names, checked once: its identity as REFERENCES lists it. */
  const holders: (ImageReader | undefined)[] = [];
  const where = (i: number, what: string) => {
    const vaddr = BigInt(map.first[i]! * top.header.pageSize);
    return new FormatError({ path: top.path, crid: top.header.crid }, top.pageMapEntryOffsetIn(section, i), `${what} (REF for vaddr 0x${vaddr.toString(16)})`);
  };
  const openHolder = async (index: number, i: number): Promise<ImageReader> => {
    const { crid: target, identity } = top.references[index]!;
    let t: ImageReader;
    try {
      t = await open(target);
    } catch (err) {
      if (err instanceof FormatError) throw err;
      throw where(i, `image of CRID ${target} to exist (missing CRID: ${(err as Error).message})`);
    }
    if (t.header.crid !== target) throw where(i, `image of CRID ${target}, found CRID ${t.header.crid} in ${t.path}`);
    if (t.identity !== identity) throw where(i, `identity of CRID ${target} ${hex64(identity)} (identity mismatch: ${t.path} has ${hex64(t.identity)})`);
    return t;
  };

  for (let i = 0; i < map.length; i++) {
    if (map.source[i] !== PageSource.REF) continue; // the image's own DATA was checked by pageColumns
    const index = map.holder[i]!;
    const t = (holders[index] ??= await openHolder(index, i));
    const block = map.block[i]!;
    const have = t.blockPages(block);
    if (have === undefined) throw where(i, `a PAGES chunk at offset ${block} of CRID ${crids[index]} (past the end or not a block)`);
    const end = map.firstPage[i]! + map.pages[i]!;
    if (end > have) throw where(i, `pages ${map.firstPage[i]}..${end} within the ${have} of block ${block} of CRID ${crids[index]} (past the end)`);
  }
  return { map, crids, pageSize: top.header.pageSize };
}

/** resolveChain of every process section of checkpoint `crid`, in file order (one for an image of one process). */
export async function resolveSections(crid: bigint, open: OpenImage): Promise<ResolvedChain[]> {
  const top = await open(crid);
  const out: ResolvedChain[] = [];
  for (const section of top.sections()) out.push(await resolveChain(crid, open, section.index));
  return out;
}

/** A run of a resolved map as an object: the checkpoint's own DATA is a REF to its own CRID. */
export type ResolvedRun = ZeroRun | FileRun | RefRun;

/** The resolved map as objects, for readers that are not hot (tests, digests). */
export function resolvedRuns({ map, crids, pageSize }: ResolvedChain): ResolvedRun[] {
  const own = crids[crids.length - 1]!;
  return columnEntries(map, crids, pageSize).map((e) => (e.source === "data" ? { ...e, source: "ref", crid: own } : e));
}

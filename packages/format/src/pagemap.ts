/**
 * The page map: for every run of pages of the process, where its bytes are. DATA in a PAGES
 * block of this image, REF to a PAGES block of an earlier image (never to another map),
 * ZERO, or FILE (read from the file of the VMA covering the run).
 */

export const PageSource = { DATA: 1, REF: 2, ZERO: 3, FILE: 4 } as const;

/** Whether entries of this source have bytes in a PAGES block (this image's or an earlier one's). */
export const holdsBytes = (source: number): boolean => source === PageSource.DATA || source === PageSource.REF;

interface Run {
  /** First virtual address (page aligned). */
  vaddr: bigint;
  /** Number of pages (>= 1). */
  pages: number;
}
export interface DataRun extends Run {
  source: "data";
  /** Offset of the PAGES chunk in this image. */
  block: number;
  /** Index of the run's first page within that block. */
  firstPage: number;
}
export interface RefRun extends Run {
  source: "ref";
  /** CRID of the earlier image holding the bytes (listed in REFERENCES). */
  crid: bigint;
  /** Offset of the PAGES chunk in that image. */
  block: number;
  firstPage: number;
}
export interface ZeroRun extends Run {
  source: "zero";
}
export interface FileRun extends Run {
  source: "file";
  /** Byte offset in the file of the VMA covering vaddr. */
  fileOffset: number;
}
export type PageMapEntry = DataRun | RefRun | ZeroRun | FileRun;

/** Sort order of map entries: by vaddr. */
export const byAddress = (a: PageMapEntry, b: PageMapEntry) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0);

/** The CRIDs the REF entries of a map point into, ascending. */
export function referencedCrids(entries: readonly PageMapEntry[]): bigint[] {
  const s = new Set<bigint>();
  for (const e of entries) if (e.source === "ref") s.add(e.crid);
  return [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

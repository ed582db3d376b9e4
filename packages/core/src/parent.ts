import { byAddress, inheritEntry, mergeSortedMaps, normalizePageMap, sliceEntry, type PageMapEntry, type Reference } from "@cr/format";
import { CrError } from "./errors.js";
import { PAGE_SIZE, pushRun, runEnd, type PageRun } from "./pages.js";
import type { Store } from "./store.js";
import type { TrackerName } from "./trackers/tracker.js";

/**
 * The parent of an incremental image: the last image of the same process on the branch. The
 * child inherits the parent's entries for its unchanged pages (as REFs to where the bytes
 * really are, never to another map), so restarting any image costs the same at any depth.
 */
export interface ParentImage {
  crid: bigint;
  identity: bigint;
  /** Pages whose bytes the parent's map holds (DATA or REF): only these may be left out of the child. */
  dataRuns: PageRun[];
  /** Pages whose bytes the parent image itself holds: what its own snapshot copied. */
  changedPages: number;
  /** The state the given tracker recorded in the parent, if it was that tracker. */
  trackerState(name: TrackerName): Uint8Array | null;
  /** The parent's entries for `unchanged` runs, as the child's (DATA becomes REF to the parent). */
  inherit(unchanged: PageRun[]): PageMapEntry[];
  /** REFERENCES for a child whose inherited entries are `entries`. */
  referencesFor(entries: PageMapEntry[]): Reference[];
  close(): void;
}

export function openParent(store: Store, branch: string, processKey: string): ParentImage | null {
  // Under the lock, so the file is the one this read of the history records (a coalesce swaps
  // both at once): a replaced file is refused here, before the process is frozen or a CRID spent.
  const opened = store.withLock(() => {
    const meta = store.branch(branch);
    const head = meta.heads[processKey];
    if (head === undefined) return null;
    const entry = meta.entries.find((e) => e.crid === head);
    return { crid: BigInt(head), reader: entry ? store.openRecorded(branch, entry) : store.openImage(branch, BigInt(head)) };
  });
  if (opened === null) return null;
  const { crid, reader } = opened;
  const map = reader.pageMap();
  const trackers = reader.records("TRACKER");
  const identities = new Map<bigint, bigint>(reader.references.map((r) => [r.crid, r.identity]));
  identities.set(crid, reader.identity);
  return {
    crid,
    identity: reader.identity,
    dataRuns: dataRuns(map),
    changedPages: map.filter((e) => e.source === "data").reduce((n, e) => n + e.pages, 0),
    trackerState: (name) => trackers.find((t) => t.name === name)?.state ?? null,
    inherit: (unchanged) => inheritRuns(map, unchanged, crid),
    referencesFor: (entries) => referencesOf(entries, identities),
    close: () => reader.close(),
  };
}

/** The child's complete map: its own changes laid over what it inherited. */
export function childPageMap(changes: PageMapEntry[], inherited: PageMapEntry[]): PageMapEntry[] {
  return normalizePageMap(mergeSortedMaps([...changes].sort(byAddress), inherited), PAGE_SIZE);
}

function dataRuns(map: readonly PageMapEntry[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const e of map) if (e.source === "data" || e.source === "ref") pushRun(runs, e.vaddr, e.pages);
  return runs;
}

/**
 * Parent entries cut to the `clean` runs (both sorted by address); DATA becomes REF. An entry
 * wholly clean (most of them) is inherited as it is, without cutting.
 */
function inheritRuns(map: readonly PageMapEntry[], clean: PageRun[], parentCrid: bigint): PageMapEntry[] {
  const out: PageMapEntry[] = [];
  const page = BigInt(PAGE_SIZE);
  const ends = clean.map(runEnd);
  let j = 0;
  for (const entry of map) {
    const end = entry.vaddr + BigInt(entry.pages) * page;
    while (j < clean.length && ends[j]! <= entry.vaddr) j++;
    for (let k = j; k < clean.length && clean[k]!.start < end; k++) {
      const lo = clean[k]!.start > entry.vaddr ? clean[k]!.start : entry.vaddr;
      const hi = ends[k]! < end ? ends[k]! : end;
      const slice = lo === entry.vaddr && hi === end ? entry : sliceEntry(entry, Number((lo - entry.vaddr) / page), Number((hi - lo) / page), PAGE_SIZE);
      out.push(inheritEntry(slice, parentCrid));
    }
  }
  return out;
}

function referencesOf(entries: PageMapEntry[], identities: Map<bigint, bigint>): Reference[] {
  const crids = new Set<bigint>();
  for (const e of entries) if (e.source === "ref") crids.add(e.crid);
  return [...crids].sort((a, b) => (a < b ? -1 : 1)).map((crid) => {
    const identity = identities.get(crid);
    if (identity === undefined) throw new CrError(`parent image does not list CRID ${crid} among its references`, { code: "BAD_IMAGE", crid });
    return { crid, identity };
  });
}

import { PAGE_SIZE } from "@cr/native";
import { byAddress, type ColumnMemory, type MemoryAttrsRecord, emptyColumns, VmaFlags, type ImageReader, type ImageSection, imageHolders, MemberState, entryColumns, holdsBytes, inheritColumns, mergeColumns, type PageColumns, type PageMapEntry, pagesWhere, PageSource, type Reference, reholdColumns, type ThreadRecord } from "@cr/format";
import type { PageRun } from "../pages.js";
import type { Store } from "./store.js";
import type { TrackerName } from "../trackers/tracker.js";
import { objectKey } from "../objects/shmem.js";
import { bufferOf, giveBackBuffers } from "./column-memory.js";
import { openImage, openRecorded } from "./store-images.js";

/**
 * The parent of an incremental image: the last image of the same process (tree) on the branch, as one process's section of it. The
 * child inherits the parent's entries for its unchanged pages (as REFs to where the bytes
 * really are, never to another map), so restarting any image costs the same at any depth.
 * The parent's map is read as columns (pagemap-columns.ts): at depth 100 it has hundreds of
 * thousands of entries, and objects for them made a snapshot's total time grow with depth.
 */
export interface ParentImage {
  crid: bigint;
  identity: bigint;
  /** Its section's place in the parent image (table order). */
  index: number;
  /** The process was restarted from the parent image (`cr restart`): it began afresh there. */
  restarted: boolean;
  /** Pages whose bytes the parent's map holds (DATA or REF): only these may be left out of the child. */
  dataRuns: PageRun[];
  /** Pages whose bytes the parent image itself holds: what its own snapshot copied. */
  changedPages: number;
  /** The same pages as runs, made when first asked for (after the thaw: trackers/hot-pages.ts). */
  changedRuns(): PageRun[];
  /** The state the given tracker recorded in the parent, if it was that tracker. */
  trackerState(name: TrackerName): Uint8Array | null;
  /** The guard regions it recorded, as runs; null where it recorded none (made before MEMORY_ATTRS). */
  guards: PageRun[] | null;
  /** The process's threads as the parent saved them. */
  threads: readonly ThreadRecord[];
  /** The parent's entries for `unchanged` runs, as the child's (DATA becomes REF to the parent), in `memory`. */
  inherit(unchanged: PageRun[], memory?: ColumnMemory): InheritedMap;
}

/** A shared mapping a parent section saved: where, and which object (objectKey of its VMA record). */
export interface SavedMapping {
  /** The section's place in the parent image. */
  index: number;
  start: bigint;
  end: bigint;
  offset: bigint;
  object: string;
}

/** What a child inherits: entries whose holder indexes name `holders`, and the REFERENCES they need. */
export interface InheritedMap {
  columns: PageColumns;
  holders: readonly bigint[];
  references: Reference[];
}

export const NOTHING_INHERITED: InheritedMap = { columns: emptyColumns(0), holders: [], references: [] };

/** The parent image of a snapshot: the section of each process of the tree that it holds. */
export interface ParentTree {
  crid: bigint;
  identity: bigint;
  /**
   * The parent of process `pid` (started at `startTime`): the root's section for the root, the
   * section of the same process (pid and start time, or the ones it had in the image it was
   * restarted from: BranchMeta.restarted) for another member; null for a process the parent
   * image does not hold (new since then: saved whole).
   */
  section(pid: number, startTime: bigint, isRoot: boolean): ParentImage | null;
  /** Every shared mapping of every section, in table order. */
  sharedMappings(): SavedMapping[];
  /** Whether the parent image's table has process `pid` started at `startTime` (running or a zombie). */
  holds(pid: number, startTime: bigint): boolean;
  close(): void;
}

export function openParent(store: Store, branch: string, processKey: string): ParentTree | null {
  // Under the lock, so the file is the one this read of the history records (a coalesce swaps
  // both at once): a replaced file is refused here, before the process is frozen or a CRID spent.
  const opened = store.withLock(() => {
    const meta = store.branch(branch);
    const head = meta.heads[processKey];
    if (head === undefined) return null;
    const entry = meta.entries.find((e) => e.crid === head);
    const reader = entry ? openRecorded(store, branch, entry) : openImage(store, branch, BigInt(head));
    return { crid: BigInt(head), reader, restart: meta.restarted?.[processKey] };
  });
  if (opened === null) return null;
  const { crid, reader, restart } = opened;
  const remembered = useRemembered(reader.identity);
  const table = reader.processTable()?.processes ?? [];
  const running = table.filter((p) => p.state === MemberState.RUNNING).map((p) => `${p.pid}:${p.startTime}`);
  const held = new Set(table.map((p) => `${p.pid}:${p.startTime}`));
  // A process restarted from this image is found by the incarnation it had in it.
  const savedKey = (pid: number, startTime: bigint) => restart?.[`${pid}:${startTime}`] ?? `${pid}:${startTime}`;
  const sections = new Map<number, ParentImage>();
  return {
    crid,
    identity: reader.identity,
    section: (pid, startTime, isRoot) => {
      const key = savedKey(pid, startTime);
      const index = isRoot ? 0 : running.indexOf(key);
      if (index < 0) return null;
      if (!sections.has(index)) sections.set(index, parentSection(crid, reader, index, remembered?.maps[index]?.(), restart !== undefined && (isRoot || key !== `${pid}:${startTime}`)));
      return sections.get(index)!;
    },
    sharedMappings: () => reader.sections().flatMap((s, index) => sharedMappingsOf(s, index)),
    holds: (pid, startTime) => held.has(savedKey(pid, startTime)),
    close: () => {
      reader.close();
      if (remembered) doneWith(remembered);
    },
  };
}

/** Section `index` of the parent image; its map `written` where this process remembers it (rememberWrittenMaps). */
function parentSection(crid: bigint, reader: ImageReader, index: number, written: PageColumns | undefined, restarted: boolean): ParentImage {
  const section = reader.sections()[index]!;
  const map = written ?? section.pageColumns();
  const trackers = section.records("TRACKER");
  const holders = reader.holderCrids;
  const identities = [...reader.references.map((r) => r.identity), reader.identity]; // by holder index
  let changedRuns: PageRun[] | undefined;
  return {
    crid,
    identity: reader.identity,
    index,
    restarted,
    dataRuns: runsWhere(map, holdsBytes),
    changedPages: pagesWhere(map, isData),
    changedRuns: () => (changedRuns ??= runsWhere(map, isData)),
    trackerState: (name) => trackers.find((t) => t.name === name)?.state ?? null,
    guards: guardRuns(section.records("MEMORY_ATTRS")[0]),
    threads: section.records("THREAD"),
    inherit: (unchanged, memory) => {
      // A page-aligned address is exact as a number (pages.ts): no bigint division per run.
      const columns = inheritColumns(map, unchanged.map((r) => ({ first: Number(r.start) / PAGE_SIZE, pages: r.pages })), memory);
      return { columns, holders, references: referencesOf(columns, holders, identities) };
    },
  };
}

function guardRuns(attrs: MemoryAttrsRecord | undefined): PageRun[] | null {
  return attrs ? attrs.guards.map((g) => ({ start: g.start, pages: Number((g.end - g.start) / BigInt(PAGE_SIZE)) })) : null;
}

function sharedMappingsOf(section: ImageSection, index: number): SavedMapping[] {
  const vmas = section.records("VMAS").flatMap((r) => r.vmas);
  return vmas.filter((v) => v.flags & VmaFlags.SHARED).map((v) => ({ index, start: v.start, end: v.end, offset: v.pgoff, object: objectKey(v) }));
}

/** The child's complete map: its own changes laid over what it inherited, in `memory`. */
export function childPageMap(changes: PageMapEntry[], inherited: InheritedMap, memory?: ColumnMemory): PageColumns {
  return mergeColumns(inherited.columns, entryColumns([...changes].sort(byAddress), inherited.holders, PAGE_SIZE, memory), memory);
}

/** A map of an image being written (childPageMap), and the images its holder indexes name but the image itself (InheritedMap.holders). */
export interface WrittenMap {
  columns: PageColumns;
  holders: readonly bigint[];
}

/** The maps of an image this process wrote, as its reader decodes them, each made when first asked for. */
interface Remembered {
  identity: bigint;
  maps: (() => PageColumns)[];
  /** The memory they are in (column-memory.ts). */
  buffers: ArrayBuffer[];
  /** Parents open on them (openParent). */
  users: number;
  /** Newer maps replaced them: their memory goes back once no parent uses them. */
  replaced: boolean;
}

/**
 * The maps of the image this process wrote last, by section: under `cr snapshot --interval`
 * that image is the next snapshot's parent, and decoding its map again cost ~30 ms of each 20%
 * increment of 1 GiB. Known by the image's identity, the hash of all its bytes; reheld in place
 * when first asked for (a `cr` that snapshots once never needs them).
 */
let lastWritten: Remembered | undefined;

/**
 * Remembers the maps of image `crid`, written with these REFERENCES and now of this identity:
 * they, and the memory they are in, are its from now on.
 */
export function rememberWrittenMaps(crid: bigint, identity: bigint, references: readonly Reference[], maps: WrittenMap[]): void {
  const holders = imageHolders(references, crid);
  const asDecoded = ({ columns, holders: built }: WrittenMap) => {
    let reheld: PageColumns | undefined;
    return () => (reheld ??= reholdColumns(columns, [...built, crid], holders));
  };
  const replaced = lastWritten;
  lastWritten = { identity, maps: maps.map(asDecoded), buffers: maps.map((m) => bufferOf(m.columns)), users: 0, replaced: false };
  if (replaced) {
    replaced.replaced = true;
    giveBackIfUnused(replaced);
  }
}

function useRemembered(identity: bigint): Remembered | undefined {
  if (lastWritten?.identity !== identity) return undefined;
  lastWritten.users++;
  return lastWritten;
}

function doneWith(remembered: Remembered): void {
  remembered.users--;
  giveBackIfUnused(remembered);
}

function giveBackIfUnused(remembered: Remembered): void {
  if (remembered.replaced && remembered.users === 0) giveBackBuffers(remembered.buffers.splice(0));
}

const isData = (source: number) => source === PageSource.DATA;

/** The entries whose source passes `test` as runs, adjacent ones merged (counted in pages until a run is done). */
function runsWhere(map: PageColumns, test: (source: number) => boolean): PageRun[] {
  const runs: PageRun[] = [];
  let first = 0;
  let pages = 0;
  const flush = () => pages > 0 && runs.push({ start: BigInt(first * PAGE_SIZE), pages });
  for (let i = 0; i < map.length; i++) {
    if (!test(map.source[i]!)) continue;
    if (pages > 0 && first + pages === map.first[i]) {
      pages += map.pages[i]!;
      continue;
    }
    flush();
    first = map.first[i]!;
    pages = map.pages[i]!;
  }
  flush();
  return runs;
}

/** REFERENCES of the images the REFs name, by CRID. */
function referencesOf(columns: PageColumns, holders: readonly bigint[], identities: readonly bigint[]): Reference[] {
  const used = new Uint8Array(holders.length);
  for (let i = 0; i < columns.length; i++) if (columns.source[i] === PageSource.REF) used[columns.holder[i]!] = 1;
  const references: Reference[] = [];
  holders.forEach((crid, h) => used[h] === 1 && references.push({ crid, identity: identities[h]! }));
  return references.sort((a, b) => (a.crid < b.crid ? -1 : 1));
}

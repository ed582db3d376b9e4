import { FCNTL, OPEN } from "@cr/native";
import { ChunkType, chunkTypeInfo, FileKind, ImageReader, type ImageSection, MemberState, PageCodec, type PageColumns, type PageMapEntry, RECORD_TYPE_NAMES, SOURCE_NAME, type TableEntry, VmaFlags, type FdRecord, type ProcessRecord, type ThreadRecord, type VmaRecord } from "@cr/format";

type Source = PageMapEntry["source"];
/** Pages of a range by where the page map says their bytes are. */
export type PagesBySource = Record<Source, number>;

/** One process of an image, from its own records and page map (a section of a tree image). */
export interface ProcessContents {
  process?: ProcessDescription;
  threads: ThreadDescription[];
  mappings: MappingDescription[];
  fds: FdDescription[];
  pageMap: { source: Source; runs: number; pages: number }[];
}

/** A running process of the image, with its pid (from MEMBER, else its PROCESS record). */
export interface ProcessEntry extends ProcessContents {
  pid?: number;
}

/** A process of the tree that had exited, not yet reaped: only its PROCESS_TABLE entry is saved. */
export interface ZombieDescription {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** Its wait status, as waitpid gives it. */
  exitStatus: number;
  /** The same in words: "exit code N" or "signal N". */
  exit: string;
}

/**
 * What `cr inspect` shows of an image: its own records (every image has them) and page maps,
 * decoded. The process fields at the top are the root's (the only process of an image of one);
 * `processes` lists every running process of a tree image, the root first.
 */
export interface ImageDescription extends ProcessContents {
  path: string;
  crid: bigint;
  parent: bigint | null;
  identity: string;
  created: string;
  toolVersion: string;
  arch: string;
  kernelRelease: string;
  pageSize: number;
  bytes: number;
  references: { crid: bigint; identity: string }[];
  processes: ProcessEntry[];
  zombies: ZombieDescription[];
  chunks: Record<string, number>;
  /** The PAGES blocks by codec: how many, the pages they hold, the bytes they take in the file. */
  blocks: { codec: string; blocks: number; pages: number; bytes: number }[];
  /** The file's bytes by what they hold ("other": preamble, HEADER, REFERENCES, INDEX, footer). */
  sizes: { pageData: number; pageMap: number; records: number; other: number };
}

export interface ProcessDescription {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  exe: string;
  cwd: string;
  cmdline: string[];
  uid: number;
  gid: number;
  euid: number;
  egid: number;
}

export interface ThreadDescription {
  tid: number;
  /** Blocked signals, as a hex mask (bit N-1: signal N). */
  sigmask: string;
  pendingSignals: number;
  altstack: { sp: string; size: number } | null;
  /** The rseq area's address; null: none registered. */
  rseq: string | null;
}

export interface MappingDescription {
  start: string;
  end: string;
  /** As /proc/PID/maps: rwx, then p (private) or s (shared). */
  prot: string;
  /** The mapped file, a special name ("[heap]", "[stack]"), or "anonymous". */
  backing: string;
  /** Offset in the file, bytes. */
  offset: number;
  /** The VMA record's other flags (growsdown, locked, ...). */
  flags: string[];
  pages: PagesBySource;
}

export interface FdDescription {
  fd: number;
  kind: string;
  path: string;
  access: "read" | "write" | "readwrite";
  /** append, nonblock, cloexec. */
  flags: string[];
  offset: number;
}

export function describeImage(path: string): ImageDescription {
  const reader = ImageReader.open(path);
  try {
    const h = reader.header;
    const processes = reader.sections().map(describeSection);
    const { pid: _pid, ...root } = processes[0]!; // the root's, at the top as in an image of one process
    return {
      path,
      crid: h.crid,
      parent: h.parentCrid === 0n ? null : h.parentCrid,
      identity: hex(reader.identity),
      created: new Date(Number(h.createdMs)).toISOString(),
      toolVersion: h.toolVersion,
      arch: h.arch,
      kernelRelease: h.kernelRelease,
      pageSize: h.pageSize,
      bytes: reader.size,
      references: reader.references.map((r) => ({ crid: r.crid, identity: hex(r.identity) })),
      ...root,
      processes,
      zombies: (reader.processTable()?.processes ?? []).filter((p) => p.state === MemberState.ZOMBIE).map(describeZombie),
      chunks: chunkCounts(reader),
      ...chunkSizes(reader),
    };
  } finally {
    reader.close();
  }
}

function describeSection(section: ImageSection): ProcessEntry {
  const process = section.record("PROCESS");
  const vmas = section.record("VMAS")?.vmas ?? [];
  // Columns, not entries: a deep chain's map has ~225 thousand runs.
  const map = section.pageColumns();
  const pages = pagesPerMapping(vmas, map, section.image.header.pageSize);
  const pid = section.pid;
  return {
    ...(pid !== undefined ? { pid } : {}),
    ...(process ? { process: describeProcess(process) } : {}),
    threads: section.records("THREAD").map(describeThread),
    mappings: vmas.map((v, i) => describeMapping(v, pages[i]!)),
    fds: (section.record("FILES")?.fds ?? []).map(describeFd),
    pageMap: sourceTotals(map),
  };
}

function describeZombie(z: TableEntry): ZombieDescription {
  const signal = z.exitStatus & 0x7f;
  return { pid: z.pid, ppid: z.ppid, pgid: z.pgid, sid: z.sid, exitStatus: z.exitStatus, exit: signal === 0 ? `exit code ${(z.exitStatus >> 8) & 0xff}` : `signal ${signal}` };
}

function sourceTotals(map: PageColumns): ProcessContents["pageMap"] {
  const sources = new Map<Source, { runs: number; pages: number }>();
  for (let i = 0; i < map.length; i++) {
    const name = SOURCE_NAME[map.source[i]!]!;
    const s = sources.get(name) ?? { runs: 0, pages: 0 };
    s.runs++;
    s.pages += map.pages[i]!;
    sources.set(name, s);
  }
  return [...sources].map(([source, s]) => ({ source, ...s }));
}

/**
 * The pages of each mapping by source, in one pass over both sorted lists: a run may span
 * several mappings, and pages outside every mapping are counted in none.
 */
function pagesPerMapping(vmas: VmaRecord[], map: PageColumns, pageSize: number): PagesBySource[] {
  const out = vmas.map((): PagesBySource => ({ data: 0, ref: 0, zero: 0, file: 0 }));
  const page = (address: bigint) => Number(address / BigInt(pageSize));
  const starts = vmas.map((v) => page(v.start));
  const ends = vmas.map((v) => page(v.end));
  let v = 0;
  for (let i = 0; i < map.length && v < vmas.length; i++) {
    const source = SOURCE_NAME[map.source[i]!]!;
    const end = map.first[i]! + map.pages[i]!;
    for (let at = map.first[i]!; at < end && v < vmas.length; ) {
      if (ends[v]! <= at) v++;
      else if (starts[v]! > at) at = Math.min(end, starts[v]!);
      else {
        const n = Math.min(end, ends[v]!) - at;
        out[v]![source] += n;
        at += n;
      }
    }
  }
  return out;
}

function chunkCounts(reader: ImageReader): Record<string, number> {
  const chunks: Record<string, number> = {};
  for (const c of reader.chunks) {
    const name = chunkTypeInfo(c.type)?.name ?? `0x${c.type.toString(16)}`;
    chunks[name] = (chunks[name] ?? 0) + 1;
  }
  return chunks;
}

const CODEC_NAME = names(PageCodec);
const RECORD_TYPES = new Set<number>(RECORD_TYPE_NAMES.map((name) => ChunkType[name]));

/** Where the file's bytes go, from INDEX alone (no block is read). */
function chunkSizes(reader: ImageReader): Pick<ImageDescription, "blocks" | "sizes"> {
  const blocks = new Map<string, { codec: string; blocks: number; pages: number; bytes: number }>();
  const sizes = { pageData: 0, pageMap: 0, records: 0, other: 0 };
  for (const c of reader.chunks) {
    const bytes = reader.chunkBytes(c.offset);
    if (c.type === ChunkType.PAGES) {
      const codec = CODEC_NAME[c.codec] ?? String(c.codec);
      const b = blocks.get(codec) ?? { codec, blocks: 0, pages: 0, bytes: 0 };
      blocks.set(codec, { codec, blocks: b.blocks + 1, pages: b.pages + c.pages, bytes: b.bytes + bytes });
      sizes.pageData += bytes;
    } else if (c.type === ChunkType.PAGE_MAP) sizes.pageMap += bytes;
    else if (RECORD_TYPES.has(c.type)) sizes.records += bytes;
  }
  sizes.other = reader.size - sizes.pageData - sizes.pageMap - sizes.records;
  return { blocks: [...blocks.values()], sizes };
}

function describeProcess(p: ProcessRecord): ProcessDescription {
  const cmdline = Buffer.from(p.cmdline).toString("utf8").split("\0");
  if (cmdline.at(-1) === "") cmdline.pop();
  return { pid: p.pid, ppid: p.ppid, pgid: p.pgid, sid: p.sid, comm: p.comm, exe: p.exePath, cwd: p.cwd, cmdline, uid: p.uid, gid: p.gid, euid: p.euid, egid: p.egid };
}

function describeThread(t: ThreadRecord): ThreadDescription {
  return {
    tid: t.tid,
    sigmask: hex(t.sigmask),
    pendingSignals: t.pendingSignals.length,
    altstack: t.altstackSize > 0n ? { sp: hex(t.altstackSp), size: Number(t.altstackSize) } : null,
    rseq: t.rseqAddr !== 0n ? hex(t.rseqAddr) : null,
  };
}

/** VmaFlags bits by name; SHARED and ANONYMOUS are shown by prot and backing. */
const VMA_FLAGS = Object.entries(VmaFlags).filter(([name]) => name !== "SHARED" && name !== "ANONYMOUS");

function describeMapping(v: VmaRecord, pages: PagesBySource): MappingDescription {
  const prot = `${v.prot & 1 ? "r" : "-"}${v.prot & 2 ? "w" : "-"}${v.prot & 4 ? "x" : "-"}${v.flags & VmaFlags.SHARED ? "s" : "p"}`;
  return {
    start: hex(v.start),
    end: hex(v.end),
    prot,
    backing: v.path || v.name || "anonymous",
    offset: Number(v.pgoff),
    flags: VMA_FLAGS.filter(([, bit]) => v.flags & bit).map(([name]) => name.toLowerCase()),
    pages,
  };
}

const FD_KIND = names(FileKind);
const { O_ACCMODE, O_WRONLY, O_RDWR, O_APPEND, O_NONBLOCK } = OPEN;

function describeFd(f: FdRecord): FdDescription {
  const mode = f.openFlags & O_ACCMODE;
  const flags = [[(f.openFlags & O_APPEND) !== 0, "append"], [(f.openFlags & O_NONBLOCK) !== 0, "nonblock"], [(f.fdFlags & FCNTL.FD_CLOEXEC) !== 0, "cloexec"]] as const;
  return {
    fd: f.fd,
    kind: FD_KIND[f.kind] ?? String(f.kind),
    path: f.path,
    access: mode === O_RDWR ? "readwrite" : mode === O_WRONLY ? "write" : "read",
    flags: flags.filter(([on]) => on).map(([, name]) => name),
    offset: Number(f.offset),
  };
}

/** A constant table's names by value, lower case ({ RAW: 0 } -> { 0: "raw" }). */
function names(table: Record<string, number>): Record<number, string> {
  return Object.fromEntries(Object.entries(table).map(([name, value]) => [value, name.toLowerCase()]));
}

function hex(value: bigint): string {
  return `0x${value.toString(16).padStart(16, "0")}`;
}

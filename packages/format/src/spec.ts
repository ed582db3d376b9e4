/**
 * The tables of docs/format.md, generated from the schemas (a test checks that the doc
 * carries exactly these tables, so the spec cannot drift from the code).
 */
import { ChunkHeadSchema, FooterSchema, PreambleSchema } from "./framing.js";
import {
  CHUNK_TYPES,
  FdSchema,
  ItimerSchema,
  PosixTimerSchema,
  SeccompFilterSchema,
  FileLockSchema,
  SharedFdSchema,
  TreeSharedFdSchema,
  EventfdSchema,
  EpollSchema,
  EpollWatchSchema,
  InetSocketSchema,
  InetSocketOptionSchema,
  TimerfdSchema,
  SignalfdSchema,
  TerminalSchema,
  PtyMasterSchema,
  TcpConnectionSchema,
  InotifyWatchSchema,
  InotifySchema,
  PidfdSchema,
  GuardRangeSchema,
  PipeBytesSchema,
  PipeSizeSchema,
  FdOwnerSchema,
  UnixSocketSchema,
  RemovedFileSchema,
  ShmemExtentSchema,
  IndexEntrySchema,
  ReferenceSchema,
  RlimitSchema,
  SavedFileSchema,
  TableEntrySchema,
  SigactionSchema,
  VmaSchema,
} from "./records.js";
import { describeStruct, type Fields, type StructSchema } from "./schema.js";
import { hex16 } from "./errors.js";
import { STREAM_FRAMES, StreamPreambleSchema } from "./export-stream.js";

export function fieldTable(s: StructSchema<Fields>): string {
  const rows = describeStruct(s).map(
    (f) => `| ${f.offset ?? "var"} | ${f.size ?? "var"} | ${f.name} | ${f.type} | ${f.doc.replace(/\|/g, "\\|")} |`,
  );
  return ["| offset | size | field | type | meaning |", "|---|---|---|---|---|", ...rows].join("\n");
}

const COUNT_TEXT = { one: "exactly one", any: "any number", "per-process": "one per process" } as const;

export function registryTable(): string {
  const rows = CHUNK_TYPES.map(
    (t) => `| ${hex16(t.type)} | ${t.name} | ${t.optional ? "OPTIONAL" : "required"} | ${COUNT_TEXT[t.count]} | ${t.schema.typeName} | ${t.body} | ${t.description} |`,
  );
  return ["| type | name | flag | count | meta | body | what |", "|---|---|---|---|---|---|---|", ...rows].join("\n");
}

function streamRegistryTable(): string {
  const rows = STREAM_FRAMES.map((f) => `| ${hex16(f.type)} | ${f.name} | ${f.schema.typeName} | ${f.body} | ${f.description} |`);
  return ["| type | name | meta | body | what |", "|---|---|---|---|---|", ...rows].join("\n");
}

/** Every generated section: marker name -> markdown. */
export function specSections(): Map<string, string> {
  const m = new Map<string, string>();
  m.set("preamble", fieldTable(PreambleSchema as never));
  m.set("chunk-head", fieldTable(ChunkHeadSchema as never));
  m.set("footer", fieldTable(FooterSchema as never));
  m.set("registry", registryTable());
  for (const t of CHUNK_TYPES) m.set(`meta-${t.name}`, fieldTable(t.schema as never));
  m.set("stream-preamble", fieldTable(StreamPreambleSchema as never));
  m.set("stream-registry", streamRegistryTable());
  for (const f of STREAM_FRAMES) m.set(`stream-${f.name}`, fieldTable(f.schema as never));
  for (const s of [ReferenceSchema, TableEntrySchema, IndexEntrySchema, RlimitSchema, VmaSchema, SigactionSchema, FdSchema, GuardRangeSchema, ItimerSchema, PosixTimerSchema, SeccompFilterSchema, FileLockSchema, SharedFdSchema, TreeSharedFdSchema, EventfdSchema, EpollWatchSchema, EpollSchema, InetSocketOptionSchema, InetSocketSchema, TimerfdSchema, SignalfdSchema, TerminalSchema, PtyMasterSchema, TcpConnectionSchema, InotifyWatchSchema, InotifySchema, PidfdSchema, PipeBytesSchema, RemovedFileSchema, PipeSizeSchema, FdOwnerSchema, UnixSocketSchema, SavedFileSchema, ShmemExtentSchema]) {
    m.set(`struct-${s.typeName.replace(/ /g, "-")}`, fieldTable(s as never));
  }
  return m;
}

/** Replaces the body of each `<!-- gen:NAME -->...<!-- /gen -->` section of `doc`. */
export function renderSpec(doc: string): string {
  const sections = specSections();
  return doc.replace(/<!-- gen:([\w-]+) -->\n[\s\S]*?<!-- \/gen -->/g, (all, name: string) => {
    const body = sections.get(name);
    return body === undefined ? all : `<!-- gen:${name} -->\n${body}\n<!-- /gen -->`;
  });
}

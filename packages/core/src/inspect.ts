import { statSync } from "node:fs";
import { chunkTypeInfo, ImageReader, type PageMapEntry, SOURCE_NAME } from "@cr/format";

/** What `cr inspect` shows of an image. */
export interface ImageDescription {
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
  process?: { pid: number; comm: string; exe: string };
  threads: number;
  vmas: number;
  fds: number;
  chunks: Record<string, number>;
  pageMap: { source: PageMapEntry["source"]; runs: number; pages: number }[];
}

export function describeImage(path: string): ImageDescription {
  const reader = ImageReader.open(path);
  try {
    const h = reader.header;
    const process = reader.record("PROCESS");
    // Columns, not entries: a deep chain's map has ~225 thousand runs.
    const map = reader.pageColumns();
    const sources = new Map<PageMapEntry["source"], { runs: number; pages: number }>();
    for (let i = 0; i < map.length; i++) {
      const name = SOURCE_NAME[map.source[i]!]!;
      const s = sources.get(name) ?? { runs: 0, pages: 0 };
      s.runs++;
      s.pages += map.pages[i]!;
      sources.set(name, s);
    }
    const chunks: Record<string, number> = {};
    for (const c of reader.chunks) {
      const name = chunkTypeInfo(c.type)?.name ?? `0x${c.type.toString(16)}`;
      chunks[name] = (chunks[name] ?? 0) + 1;
    }
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
      bytes: statSync(path).size,
      references: reader.references.map((r) => ({ crid: r.crid, identity: hex(r.identity) })),
      ...(process ? { process: { pid: process.pid, comm: process.comm, exe: process.exePath } } : {}),
      threads: reader.records("THREAD").length,
      vmas: reader.record("VMAS")?.vmas.length ?? 0,
      fds: reader.record("FILES")?.fds.length ?? 0,
      chunks,
      pageMap: [...sources].map(([source, s]) => ({ source, ...s })),
    };
  } finally {
    reader.close();
  }
}

function hex(value: bigint): string {
  return `0x${value.toString(16).padStart(16, "0")}`;
}

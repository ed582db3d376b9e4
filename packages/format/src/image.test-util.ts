// Shared fixtures for the format tests: sample records of every type and an image builder.
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type { PageMapEntry } from "./pagemap.js";
import type { FdRecord, ProcessRecord, Reference, SignalsRecord, ThreadRecord, TrackerRecord, VmasRecord } from "./records.js";
import { ImageWriter } from "./writer.js";

export const PS = 4096;

/** A fresh directory, removed when the test file is done. */
export function tmpDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cr-format-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** `count` pages of mixed content: random, repetitive text-like, and sparse. */
export function mixedPages(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count * PS);
  const r = prng(seed);
  for (let p = 0; p < count; p++) {
    const page = out.subarray(p * PS, (p + 1) * PS);
    const kind = r() % 3;
    if (kind === 0) for (let i = 0; i < PS; i += 4) new DataView(page.buffer, page.byteOffset + i, 4).setUint32(0, r());
    else if (kind === 1) {
      const word = `page ${p} seed ${seed} `;
      for (let i = 0; i < PS; i++) page[i] = word.charCodeAt(i % word.length);
    } else for (let i = 0; i < 64; i++) page[r() % PS] = r() & 0xff;
  }
  return out;
}

export const sampleProcess: ProcessRecord = {
  pid: 4242,
  ppid: 1,
  pgid: 4242,
  sid: 4000,
  comm: "fixture",
  exePath: "/usr/bin/fixture",
  cwd: "/tmp/ünïcödé dir",
  umask: 0o022,
  personality: 0,
  startCode: 0x400000n,
  endCode: 0x401000n,
  startData: 0x402000n,
  endData: 0x403000n,
  startBrk: 0x404000n,
  brk: 0x425000n,
  startStack: 0x7ffc00000000n,
  argStart: 0x7ffc00001000n,
  argEnd: 0x7ffc00001010n,
  envStart: 0x7ffc00001010n,
  envEnd: 0x7ffc00001100n,
  auxv: new Uint8Array([6, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0]),
  cmdline: new TextEncoder().encode("fixture\0--flag\0"),
  uid: 0,
  gid: 0,
  euid: 0,
  egid: 0,
  suid: 0,
  sgid: 0,
  fsuid: 0,
  fsgid: 0,
  groups: [0, 4, 27],
  capInheritable: 0n,
  capPermitted: 0x1fffeffffffn,
  capEffective: 0x1fffeffffffn,
  capBounding: 0x1ffffffffffn,
  capAmbient: 0n,
  rlimits: [
    { resource: 7, cur: 1024n, max: 1048576n },
    { resource: 3, cur: 8388608n, max: (1n << 64n) - 1n },
  ],
};

export const sampleVmas: VmasRecord = {
  vmas: [
    { start: 0x400000n, end: 0x401000n, prot: 5, flags: 0, pgoff: 0n, path: "/usr/bin/fixture", device: 2049n, inode: 1234n, fileSize: 8192n, mtimeNs: 1700000000000000000n, name: "" },
    { start: 0x404000n, end: 0x425000n, prot: 3, flags: 32, pgoff: 0n, path: "", device: 0n, inode: 0n, fileSize: 0n, mtimeNs: 0n, name: "[heap]" },
  ],
};

export const sampleThread: ThreadRecord = {
  tid: 4242,
  regs: new Uint8Array(27 * 8).fill(7),
  xstate: new Uint8Array(832).fill(3),
  sigmask: 1n << 9n,
  altstackSp: 0n,
  altstackFlags: 2,
  altstackSize: 0n,
  rseqAddr: 0x7f0000001000n,
  rseqLen: 32,
  rseqSig: 0x53053053,
  robustListHead: 0x7f0000002000n,
  robustListLen: 24n,
  clearTidAddress: 0x7f0000003000n,
  pendingSignals: [new Uint8Array(128).fill(1)],
};

export const sampleSignals: SignalsRecord = {
  actions: Array.from({ length: 64 }, (_, i) => ({ handler: i === 1 ? 0x401234n : 0n, flags: 0x4000000n, restorer: 0x7f0000000000n, mask: BigInt(i) })),
  sharedPending: [],
};

const fd = (n: number, kind: number, path: string): FdRecord => ({
  fd: n,
  fdFlags: n > 2 ? 1 : 0,
  kind,
  path,
  openFlags: 0o2,
  offset: BigInt(n * 100),
  device: 5n,
  inode: BigInt(n + 1000),
  size: 0n,
  mtimeNs: 0n,
  pipeId: kind === 3 ? 777n : 0n,
  pipeEnd: kind === 3 ? 1 + (n % 2) : 0,
});
export const sampleFiles = { fds: [fd(0, 2, "/dev/null"), fd(1, 0, "/tmp/out.log"), fd(3, 3, "pipe:[777]"), fd(4, 3, "pipe:[777]")] };

export const sampleTracker: TrackerRecord = { name: "hash", state: new Uint8Array(256).fill(9) };

export interface BuiltImage {
  path: string;
  identity: bigint;
  bytes: number;
  map: PageMapEntry[];
  /** vaddr (as page number) -> expected page bytes, for DATA pages of this image */
  blocks: { offset: number; vaddr: bigint; data: Uint8Array }[];
}

export const BASE = 0x10000000n;

/**
 * A full image with every record type, `blocks` blocks of `blockPages` mixed pages
 * alternating raw and lz4, and a page map using DATA, ZERO and FILE.
 */
export async function buildFullImage(
  path: string,
  opts: { crid?: bigint; blocks?: number; blockPages?: number; seed?: number } = {},
): Promise<BuiltImage> {
  const crid = opts.crid ?? 1n;
  const nb = opts.blocks ?? 4;
  const bp = opts.blockPages ?? 64;
  const fdn = openSync(path, "w", 0o600);
  try {
    const w = new ImageWriter(fdn, { header: { crid, pageSize: PS, arch: "x86_64", kernelRelease: "6.18.0", createdMs: 1700000000000n, toolVersion: "cr 0.1.0" } });
    await w.writeRecord("PROCESS", sampleProcess);
    await w.writeRecord("VMAS", sampleVmas);
    await w.writeRecord("THREAD", sampleThread);
    await w.writeRecord("THREAD", { ...sampleThread, tid: 4243 });
    await w.writeRecord("SIGNALS", sampleSignals);
    await w.writeRecord("FILES", sampleFiles);
    await w.writeRecord("TRACKER", sampleTracker);
    const blocks: BuiltImage["blocks"] = [];
    const map: PageMapEntry[] = [];
    const step = BigInt(bp * PS);
    for (let b = 0; b < nb; b++) {
      const vaddr = BASE + BigInt(b) * step;
      const data = mixedPages(bp, (opts.seed ?? 1) * 1000 + b);
      const offset = await w.writePages(vaddr, data, b % 2 === 0 ? "raw" : "lz4");
      blocks.push({ offset, vaddr, data });
      map.push({ vaddr, pages: bp, source: "data", block: offset, firstPage: 0 });
    }
    const after = BASE + BigInt(nb) * step;
    map.push({ vaddr: after, pages: 16, source: "zero" });
    map.push({ vaddr: after + 16n * BigInt(PS), pages: 8, source: "file", fileOffset: 8192 });
    await w.writePageMap(map);
    const r = await w.finish();
    return { path, identity: r.identity, bytes: r.bytes, map, blocks };
  } finally {
    closeSync(fdn);
  }
}

export async function writeImage(
  path: string,
  header: { crid: bigint; parentCrid?: bigint; parentIdentity?: bigint },
  references: Reference[],
  build: (w: ImageWriter) => Promise<PageMapEntry[]>,
): Promise<{ identity: bigint; map: PageMapEntry[] }> {
  const fdn = openSync(path, "w", 0o600);
  try {
    const w = new ImageWriter(fdn, { header: { ...header, pageSize: PS }, references });
    const map = await build(w);
    await w.writePageMap(map);
    const r = await w.finish();
    return { identity: r.identity, map };
  } finally {
    closeSync(fdn);
  }
}

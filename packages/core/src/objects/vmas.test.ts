import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { freeze, scratch, thaw } from "@cr/native";
import { CR_TRAMPOLINE_NAME, collectVmas, markTrampoline, parseVmFlags, type Vma } from "./vmas.js";

let bin: string;
let dir: string;
let file: string;
beforeAll(() => {
  bin = program("proc_target");
  dir = mkdtempSync(join(tmpdir(), "cr-vmas-"));
  file = join(dir, "data.bin");
  writeFileSync(file, Buffer.alloc(4 * 4096, 0x5a));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

const containing = (vmas: Vma[], hex: unknown): Vma => {
  const addr = BigInt(`0x${hex as string}`);
  const vma = vmas.find((v) => v.start <= addr && addr < v.end);
  if (!vma) throw new Error(`no mapping holds 0x${hex as string}`);
  return vma;
};

describe("collectVmas on a program that mapped a file, anonymous memory and a MADV_DONTDUMP region", () => {
  let target: Target;
  let vmas: Vma[];
  beforeAll(async () => {
    target = await startTarget(bin, ["state", dir, file]);
    vmas = collectVmas(target.pid);
  });
  afterAll(() => target.stop());

  it("finds the private file mapping at its offset, with the file's identity", () => {
    const vma = containing(vmas, target.ready.filemap);
    const st = statSync(file, { bigint: true });
    expect(vma.start).toBe(BigInt(`0x${target.ready.filemap as string}`));
    expect(vma.end - vma.start).toBe(8192n);
    expect(vma).toMatchObject({ kind: "file", path: file, offset: 4096n, shared: false, deleted: false, internal: false });
    expect(vma.prot).toEqual({ read: true, write: false, exec: false });
    expect(vma.inode).toBe(st.ino);
    expect(vma.file).toEqual({ dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs });
  });

  it("finds the anonymous mapping, its touched page resident, not dontdump", () => {
    const vma = containing(vmas, target.ready.anon);
    expect(vma).toMatchObject({ kind: "anonymous", name: "", shared: false });
    expect(vma.file).toBeUndefined();
    expect(vma.prot).toEqual({ read: true, write: true, exec: false });
    expect(vma.rss).toBeGreaterThanOrEqual(4096n);
    expect(vma.flags.dontdump).toBe(false);
  });

  it("flags the MADV_DONTDUMP region dontdump, exactly over its 5 pages", () => {
    const vma = containing(vmas, target.ready.nodump);
    expect(vma.flags.dontdump).toBe(true);
    expect(vma.flags.raw.has("dd")).toBe(true);
    expect(vma.start).toBe(BigInt(`0x${target.ready.nodump as string}`));
    expect(vma.end - vma.start).toBe(5n * 4096n);
  });

  it("names the kernel's pseudo-mappings and marks the stack growsdown", () => {
    const kinds = new Set(vmas.map((v) => v.kind));
    for (const kind of ["heap", "stack", "vdso", "vvar"] as const) expect(kinds).toContain(kind);
    expect(vmas.find((v) => v.kind === "stack")!.flags.growsdown).toBe(true);
    expect(vmas.find((v) => v.kind === "vvar")!.flags.pfnmap).toBe(true);
    for (let i = 1; i < vmas.length; i++) expect(vmas[i]!.start).toBeGreaterThanOrEqual(vmas[i - 1]!.end);
  });

  it("sees the executable mapped from its file", () => {
    expect(vmas.some((v) => v.path === bin && v.prot.exec && v.file !== undefined)).toBe(true);
  });
});

describe("collectVmas on shared mappings", () => {
  let target: Target;
  let vmas: Vma[];
  beforeAll(async () => {
    target = await startTarget(bin, ["shared", dir]);
    vmas = collectVmas(target.pid);
  });
  afterAll(() => target.stop());

  it("tells shared anonymous memory, SysV shm, memfd and a shared file apart", () => {
    expect(containing(vmas, target.ready.anon)).toMatchObject({ kind: "shared-anonymous", shared: true, deleted: true });
    expect(containing(vmas, target.ready.shm)).toMatchObject({ kind: "sysv-shm", shared: true });
    expect(containing(vmas, target.ready.memfdMap)).toMatchObject({ kind: "memfd", path: "/memfd:crtest", shared: true });
    expect(containing(vmas, target.ready.file)).toMatchObject({ kind: "file", path: join(dir, "shared"), shared: true });
  });

  it("marks the [anon:cr-trampoline] page internal", (ctx) => {
    if (target.ready.named !== 1) ctx.skip("kernel without CONFIG_ANON_VMA_NAME: cannot name a page [anon:cr-trampoline]");
    const vma = containing(vmas, target.ready.trampoline);
    expect(vma).toMatchObject({ name: CR_TRAMPOLINE_NAME, kind: "named-anonymous", internal: true });
  });
});

describe("markTrampoline", () => {
  it("marks cr's trampoline internal by its address, whether or not the kernel named it", async () => {
    const own = mkdtempSync(join(dir, "trampoline-"));
    const target = await startTarget(bin, ["state", own, file]);
    const tids = freeze(target.pid);
    try {
      const area = scratch(target.pid);
      const vmas = markTrampoline(collectVmas(target.pid), area.trampoline);
      const inside = vmas.filter((v) => v.start >= area.trampoline.start && v.end <= area.trampoline.end);
      expect(inside.length).toBeGreaterThan(0);
      expect(inside.every((v) => v.internal)).toBe(true);
      expect(vmas.filter((v) => v.internal)).toEqual(inside);
    } finally {
      thaw(tids);
      target.stop();
    }
  });
});

describe("parseVmFlags", () => {
  it("names every mnemonic it knows and keeps unknown ones raw", () => {
    const flags = parseVmFlags(" rd wr mr mw me gd ac uw io pf zz ");
    expect(flags).toMatchObject({ readable: true, writable: true, growsdown: true, uffdWp: true, io: true, pfnmap: true, dontdump: false });
    expect(flags.raw.has("zz")).toBe(true);
  });
});

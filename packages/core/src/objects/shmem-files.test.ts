import { closeSync, existsSync, openSync, readFileSync, readlinkSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { ShmemFileKind, type ShmemFileRecord } from "@cr/format";
import { fileSeals, MEMFD } from "@cr/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { collectFiles, type FdEntry } from "./files.js";
import { pageSavers } from "./shmem.js";
import { checkShmemFiles, RestoredShmemFiles, shmemFileProblems, TreeShmemFiles, type MemberObjects } from "./shmem-files.js";
import { collectVmas, type Vma } from "./vmas.js";

const PAGE = 4096;

/** The bytes proc_target's fill() writes: seed + i * 7, byte by byte. */
function filled(seed: number, bytes: number): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => (seed + i * 7) & 0xff));
}

let target: Target;
let member: MemberObjects;
let records: ShmemFileRecord[];
let ready: { memfd: number; memfdMap: string; sealedMap: string; shmPath: string; shmMap: string; deleted: number; deletedPath: string };

beforeAll(async () => {
  target = await startTarget(program("proc_target"), ["shmem"]);
  ready = target.ready as typeof ready;
  member = { pid: target.pid, vmas: collectVmas(target.pid), files: collectFiles(target.pid) };
  const files = new TreeShmemFiles([member]);
  records = files.records(pageSavers([member], files.recordOnly)).get(target.pid) ?? [];
});
afterAll(async () => {
  await target.stop();
  cleanPrograms();
  if (existsSync(ready.shmPath)) unlinkSync(ready.shmPath);
});

const vmaAt = (hex: string): Vma => member.vmas.find((v) => v.start === BigInt(`0x${hex}`))!;
const fdOf = (fd: number): FdEntry => member.files.find((f) => f.fd === fd)!;
const recordNamed = (name: string): ShmemFileRecord => records.find((r) => r.name === name)!;

describe("memfds and tmpfs files, checkpoint half", () => {
  it("takes descriptors and mappings of memfds and /dev/shm files for shmem files", () => {
    expect(fdOf(ready.memfd)).toMatchObject({ kind: "shmem", path: "/memfd:crtest-shmem", deleted: true });
    expect(fdOf(ready.deleted)).toMatchObject({ kind: "shmem", path: ready.deletedPath, deleted: true });
    expect(vmaAt(ready.memfdMap)).toMatchObject({ kind: "memfd", shared: true });
    expect(vmaAt(ready.shmMap)).toMatchObject({ kind: "file", path: ready.shmPath, onTmpfs: true, deleted: false });
  });

  it("saves each file once, with what no page map holds: not the pages its shared mappings show, all of a write-sealed memfd", () => {
    expect(records.map((r) => r.name).sort()).toEqual(["crtest-sealed", "crtest-shmem", ready.deletedPath, ready.shmPath].sort());
    expect(recordNamed("crtest-shmem")).toMatchObject({ kind: ShmemFileKind.MEMFD, size: 4n * BigInt(PAGE), seals: MEMFD.F_SEAL_GROW });
    expect(recordNamed("crtest-shmem").extents).toEqual([{ offset: 3n * BigInt(PAGE), bytes: filled(3, PAGE) }]); // page 0 is mapped, 1-2 holes
    expect(recordNamed("crtest-sealed")).toMatchObject({ kind: ShmemFileKind.MEMFD, seals: MEMFD.F_SEAL_WRITE });
    expect(recordNamed("crtest-sealed").extents).toEqual([{ offset: 0n, bytes: filled(5, PAGE) }]);
    expect(recordNamed(ready.shmPath)).toMatchObject({ kind: ShmemFileKind.TMPFS, size: 2n * BigInt(PAGE), mode: 0o640, extents: [] });
    expect(recordNamed(ready.deletedPath)).toMatchObject({ kind: ShmemFileKind.TMPFS_DELETED, size: 100n, extents: [{ offset: 0n, bytes: filled(9, 100) }] });
  });

  it("tracks none of a file held open, and saves a write-sealed memfd in its record only", () => {
    const files = new TreeShmemFiles([member]);
    expect(files.heldOpen.size).toBe(2); // the memfd and the deleted file
    const savers = pageSavers([member], files.recordOnly);
    expect(savers.get([...files.recordOnly][0]!)).toBeUndefined();
    expect([...savers.values()].map((byPid) => [...byPid.keys()])).toEqual([[target.pid], [target.pid]]); // the memfd's and the /dev/shm file's mappings
  });

  it("refuses a file another process holds too, naming it", () => {
    const problems = () => shmemFileProblems(target.pid, new Set([target.pid]), member.vmas, member.files);
    expect(problems()).toEqual([]);
    const mine = openSync(`/proc/${target.pid}/fd/${ready.memfd}`, "r");
    try {
      expect(problems()).toEqual([expect.objectContaining({ kind: "shared-memory", reason: expect.stringContaining(`memfd crtest-shmem is also held by PID ${process.pid}`) })]);
    } finally {
      closeSync(mine);
    }
  });
});

describe("memfds and tmpfs files, restart half", () => {
  it("makes each file again with its data, size, name and seals", () => {
    const made = new RestoredShmemFiles(records, 1n);
    try {
      const opened = (name: string) => made.pathFor({ fd: 0, device: recordNamed(name).device, inode: recordNamed(name).inode });
      expect(readlinkSync(opened("crtest-shmem"))).toBe("/memfd:crtest-shmem (deleted)");
      expect(readFileSync(opened("crtest-shmem")).equals(Buffer.concat([Buffer.alloc(3 * PAGE), filled(3, PAGE)]))).toBe(true);
      const sealed = openSync(opened("crtest-sealed"), "r");
      expect(fileSeals(sealed)).toBe(MEMFD.F_SEAL_WRITE);
      closeSync(sealed);
      expect(made.filledThroughMappings(`${recordNamed("crtest-sealed").device}:${recordNamed("crtest-sealed").inode}`)).toBe(false);
      expect(readlinkSync(opened(ready.deletedPath))).toMatch(/^\/dev\/shm\/#\d+ \(deleted\)$/);
      expect(readFileSync(opened(ready.deletedPath)).equals(filled(9, 100))).toBe(true);
      expect(statSync(opened(ready.shmPath)).mode & 0o7777).toBe(0o640);
    } finally {
      made.release();
    }
  });

  it("refuses to replace a tmpfs file a process holds, or another file at its path, without --force", () => {
    const shm = recordNamed(ready.shmPath);
    expect(() => checkShmemFiles([shm], 1n, false)).toThrow(`PID ${target.pid} (proc_target) holds the file there now`);
    expect(checkShmemFiles([shm], 1n, true)).toEqual([expect.stringContaining("replaced with the checkpoint's anyway (--force)")]);
    const other = { ...shm, name: `${ready.shmPath}-other` };
    writeFileSync(other.name, "someone else's");
    try {
      expect(() => checkShmemFiles([other], 1n, false)).toThrow("another file has its path now");
    } finally {
      unlinkSync(other.name);
    }
    expect(checkShmemFiles([other], 1n, false)).toEqual([]); // gone: made again
  });

  it("puts a tmpfs file back at its path last, replacing what is there", () => {
    const shm = recordNamed(ready.shmPath);
    const made = new RestoredShmemFiles([shm], 1n);
    try {
      expect(statSync(ready.shmPath, { bigint: true }).ino).toBe(shm.inode); // untouched until the last step
      made.linkAtPaths();
      expect(statSync(ready.shmPath, { bigint: true }).ino).not.toBe(shm.inode);
      // Its written page is the process's mapping's, which a restart fills after this.
      expect(readFileSync(ready.shmPath).equals(Buffer.alloc(2 * PAGE))).toBe(true);
    } finally {
      made.release();
    }
  });
});

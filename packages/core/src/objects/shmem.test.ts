import { VmaFlags, type VmaRecord } from "@cr/format";
import { describe, expect, it } from "vitest";
import { isSharedObjectMapping, pageSavers, savedElsewhere, sharedByMembers, sharedObjectKey, sharedObjectsOfMany, soleMappings } from "./shmem.js";
import { parseVmFlags, type Vma } from "./vmas.js";

const PAGE = 4096n;

/** A mapping of `pages` pages at page `at`, of object `inode` (0: private anonymous memory) from page `offset` of it. */
function vma(at: number, pages: number, kind: Vma["kind"], inode: number, extra: Partial<Vma> = {}): Vma {
  return {
    start: BigInt(at) * PAGE,
    end: BigInt(at + pages) * PAGE,
    prot: { read: true, write: true, exec: false },
    shared: kind !== "anonymous" && kind !== "file",
    offset: 0n,
    device: { major: 0, minor: inode === 0 ? 0 : 1 },
    inode: BigInt(inode),
    name: "",
    kind,
    deleted: false,
    flags: parseVmFlags("rd wr"),
    rss: 0n,
    swap: 0n,
    internal: false,
    mapsLine: "",
    ...extra,
  };
}

const anon = (at: number, inode: number, extra: Partial<Vma> = {}) => vma(at, 4, "shared-anonymous", inode, extra);
const memfd = (at: number, inode: number, extra: Partial<Vma> = {}) => vma(at, 4, "memfd", inode, extra);

describe("shared memory objects, checkpoint half", () => {
  it("are shared anonymous memory, and memfds and tmpfs files mapped shared", () => {
    expect(isSharedObjectMapping(anon(0, 5))).toBe(true);
    expect(isSharedObjectMapping(memfd(0, 5))).toBe(true);
    expect(isSharedObjectMapping(memfd(0, 5, { shared: false }))).toBe(false);
    expect(isSharedObjectMapping(vma(0, 4, "file", 5, { shared: true, onTmpfs: true }))).toBe(true);
    expect(isSharedObjectMapping(vma(0, 4, "file", 5, { shared: true }))).toBe(false);
  });

  it("track a mapping only where nothing else shows its part of the object", () => {
    const alone = memfd(0, 5);
    const [a, b] = [anon(10, 6), anon(20, 6, { offset: 2n * PAGE })]; // overlapping parts of one object
    const [c, d] = [anon(30, 7), anon(40, 7, { offset: 4n * PAGE })]; // disjoint parts of one object
    const sole = soleMappings([alone, a, b, c, d, vma(50, 4, "anonymous", 0)], new Set());
    expect([...sole]).toEqual([alone, c, d]);
    expect(soleMappings([alone], new Set([sharedObjectKey(alone)])).size).toBe(0);
  });

  it("count an object another process maps, or a descriptor holds, as written by others", () => {
    const [x, y, z] = [memfd(0, 5), anon(10, 6), memfd(20, 7)];
    const others = sharedByMembers([[x, y], [y], [z]], new Set([sharedObjectKey(z)]));
    expect(others).toEqual(new Set([sharedObjectKey(y), sharedObjectKey(z)]));
  });

  it("save an object's pages in the page map of its first shared mapper, and none of a record-only one's", () => {
    const [x, y] = [memfd(0, 5), anon(10, 6)];
    const privately = memfd(30, 5, { shared: false });
    const members = [
      { pid: 1, vmas: [privately] },
      { pid: 2, vmas: [x, y] },
      { pid: 3, vmas: [memfd(0, 5), anon(10, 6)] },
    ];
    expect(pageSavers(members, new Set())).toEqual(new Map([[sharedObjectKey(x), 2], [sharedObjectKey(y), 2]]));
    const savers = pageSavers(members, new Set([sharedObjectKey(x)]));
    expect(savedElsewhere(2, [x, y], savers)).toEqual([{ start: x.start, pages: 4 }]);
    expect(savedElsewhere(3, members[2]!.vmas, savers)).toEqual([{ start: 0n, pages: 4 }, { start: 10n * PAGE, pages: 4 }]);
    expect(savedElsewhere(1, [privately], savers)).toEqual([]);
  });
});

describe("shared memory objects, restart half", () => {
  const record = (start: number, inode: number, shared: boolean): VmaRecord => ({
    start: BigInt(start) * PAGE,
    end: BigInt(start + 1) * PAGE,
    prot: 3,
    flags: shared ? VmaFlags.SHARED : 0,
    pgoff: 0n,
    path: "",
    device: 9n,
    inode: BigInt(inode),
    fileSize: PAGE,
    mtimeNs: 0n,
    name: "",
  });

  it("find the objects processes could write unseen by each other: mapped shared by several, or held open", () => {
    const objects = new Set(["9:5", "9:6", "9:7"]);
    const many = sharedObjectsOfMany([[record(0, 5, true), record(1, 6, true)], [record(0, 5, true), record(1, 6, false)], [record(2, 8, true)]], objects, new Set(["9:7"]));
    expect(many).toEqual(new Set(["9:5", "9:7"]));
  });
});

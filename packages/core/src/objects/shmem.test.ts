import { describe, expect, it } from "vitest";
import { isSharedObjectMapping, isTrackedThroughMappings, pageSavers, savedElsewhere, sharedObjectKey } from "./shmem.js";
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
  it("save a part of an object the first mapper no longer maps in the page map of the next that does", () => {
    const half = anon(0, 6, { end: 2n * PAGE }); // pages 0-1 of the object
    const all = anon(20, 6); // pages 0-3, at page 20
    const savers = pageSavers([{ pid: 1, vmas: [half] }, { pid: 2, vmas: [all] }], new Set());
    expect(savers.get(sharedObjectKey(all))).toEqual(new Map([[1, [{ start: 0n, pages: 2 }]], [2, [{ start: 2n * PAGE, pages: 2 }]]]));
    expect(savedElsewhere(1, [half], savers)).toEqual([]);
    expect(savedElsewhere(2, [all], savers)).toEqual([{ start: 20n * PAGE, pages: 2 }]);
  });

  it("are shared anonymous memory, and memfds and tmpfs files mapped shared", () => {
    expect(isSharedObjectMapping(anon(0, 5))).toBe(true);
    expect(isSharedObjectMapping(memfd(0, 5))).toBe(true);
    expect(isSharedObjectMapping(memfd(0, 5, { shared: false }))).toBe(false);
    expect(isSharedObjectMapping(vma(0, 4, "file", 5, { shared: true, onTmpfs: true }))).toBe(true);
    expect(isSharedObjectMapping(vma(0, 4, "file", 5, { shared: true }))).toBe(false);
  });

  it("are tracked through their mappings when no path reaches them and no descriptor holds them", () => {
    const [x, y, z] = [memfd(0, 5), anon(10, 6), memfd(20, 7)];
    const named = vma(30, 4, "file", 8, { shared: true, onTmpfs: true });
    const unlinked = vma(40, 4, "file", 9, { shared: true, onTmpfs: true, deleted: true });
    const heldOpen = new Set([sharedObjectKey(z)]);
    expect([x, y, z, named, unlinked].map((v) => isTrackedThroughMappings(v, heldOpen))).toEqual([true, true, false, false, true]);
    expect(isTrackedThroughMappings(memfd(50, 5, { shared: false }), heldOpen)).toBe(false);
  });

  it("save an object's pages in the page map of its first shared mapper, and none of a record-only one's", () => {
    const [x, y] = [memfd(0, 5), anon(10, 6)];
    const privately = memfd(30, 5, { shared: false });
    const members = [
      { pid: 1, vmas: [privately] },
      { pid: 2, vmas: [x, y] },
      { pid: 3, vmas: [memfd(0, 5), anon(10, 6)] },
    ];
    const whole = [{ start: 0n, pages: 4 }];
    expect(pageSavers(members, new Set())).toEqual(new Map([[sharedObjectKey(x), new Map([[2, whole], [3, []]])], [sharedObjectKey(y), new Map([[2, whole], [3, []]])]]));
    const savers = pageSavers(members, new Set([sharedObjectKey(x)]));
    expect(savedElsewhere(2, [x, y], savers)).toEqual([{ start: x.start, pages: 4 }]);
    expect(savedElsewhere(3, members[2]!.vmas, savers)).toEqual([{ start: 0n, pages: 4 }, { start: 10n * PAGE, pages: 4 }]);
    expect(savedElsewhere(1, [privately], savers)).toEqual([]);
  });
});

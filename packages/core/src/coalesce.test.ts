import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { snapshot } from "./checkpoint.js";
import { createBranch } from "./store/branches.js";
import { coalesce } from "./coalesce.js";
import { gc } from "./store/gc.js";
import type { Store } from "./store/store.js";
import { storeMaker } from "./store/store.test-util.js";
import { memoryDigest, syntheticChain } from "./synthetic.js";
import { verifyStore } from "./store/verify.js";
import { openImage } from "./store/store-images.js";
import { sleepingTree, treeChain, type TreeStep } from "./store/tree.test-util.js";

const newStore = storeMaker("cr-coalesce-");

/** Disk usage in KiB with hardlinks counted once. */
function du(dir: string): number {
  return Number(execFileSync("du", ["-sk", dir], { encoding: "utf8" }).split("\t")[0]);
}

async function digests(store: Store, branch: string, crids: bigint[]): Promise<Map<bigint, string>> {
  const out = new Map<bigint, string>();
  for (const c of crids) out.set(c, await memoryDigest(store, branch, c));
  return out;
}

describe("coalesce", () => {
  it("keeps every kept CRID's memory, leaves a sharing branch intact, and gives space back", async () => {
    const store = newStore();
    const crids = await syntheticChain(store, { branch: "main", pages: 512, images: 50, dirtyPerImage: 40 });
    createBranch(store, "side", crids[29]!);
    const sideMore = await syntheticChain(store, { branch: "side", pages: 512, images: 3, dirtyPerImage: 40, parent: crids[29]!, seed: 2 });
    const before = await digests(store, "main", crids);
    const sideCrids = [...crids.slice(0, 30), ...sideMore];
    const sideBefore = await digests(store, "side", sideCrids);
    const duBefore = du(store.dir);

    const result = await coalesce(store, { branch: "main", keepLast: 5 });
    expect(result.kept).toEqual(crids.slice(45).map(String));
    expect(result.removed.length).toBe(45);

    for (const c of crids.slice(45)) expect(await memoryDigest(store, "main", c)).toBe(before.get(c));
    expect(store.branch("main").entries[0]!.parent).toBeNull();
    for (const c of sideCrids) expect(await memoryDigest(store, "side", c)).toBe(sideBefore.get(c));
    const bad = (await verifyStore(store)).filter((r) => !r.ok);
    expect(bad).toEqual([]);
    // main's images 31..45 were linked by main only: their space is back; side keeps 1..30.
    const duAfter = du(store.dir);
    expect(duAfter).toBeLessThan(duBefore);
    expect(readdirSync(store.branchDir("main")).filter((f) => f.endsWith(".crimg")).length).toBe(5);
  });

  it("--upto makes that CRID full and rewrites later images as needed", async () => {
    const store = newStore();
    const crids = await syntheticChain(store, { branch: "main", pages: 300, images: 12, dirtyPerImage: 30 });
    const before = await digests(store, "main", crids);
    const result = await coalesce(store, { branch: "main", upto: crids[6]! });
    expect(result.removed).toEqual(crids.slice(0, 6).map(String));
    for (const c of crids.slice(6)) expect(await memoryDigest(store, "main", c)).toBe(before.get(c));
    expect((await verifyStore(store)).every((r) => r.ok)).toBe(true);
    // Coalescing again is a no-op.
    const again = await coalesce(store, { branch: "main", upto: crids[6]! });
    expect(again.removed).toEqual([]);
  });

  it("writes an image that keeps its parent with its own blocks carried over whole: same pages, same packing, same hashes", async () => {
    const store = newStore();
    const crids = await syntheticChain(store, { branch: "main", pages: 2048, images: 8, dirtyPerImage: 600 });
    const blocksOf = (crid: bigint) => {
      const r = openImage(store, "main", crid);
      const blocks = r.blocks().map((b) => ({ vaddr: b.vaddr, pages: b.pages, hash: r.block(b.offset).bodyHash }));
      r.close();
      return blocks;
    };
    const later = crids.slice(5);
    const before = later.map(blocksOf);
    const digestsBefore = await digests(store, "main", later);
    const result = await coalesce(store, { branch: "main", keepLast: 4 });
    expect(result.rewritten).toEqual(crids.slice(4).map(String));
    expect(later.map(blocksOf)).toEqual(before);
    expect(await digests(store, "main", later)).toEqual(digestsBefore);
    expect((await verifyStore(store)).every((r) => r.ok)).toBe(true);
  });

  it("gc removes files no branch lists", async () => {
    const store = newStore();
    await syntheticChain(store, { branch: "main", pages: 16, images: 2, dirtyPerImage: 2 });
    execFileSync("cp", [join(store.branchDir("main"), "1.crimg"), join(store.branchDir("main"), "99.crimg")]);
    const result = gc(store);
    expect(result.removed.map((p) => p.split("/").pop())).toEqual(["99.crimg"]);
    expect(statSync(join(store.branchDir("main"), "1.crimg")).isFile()).toBe(true);
  });
});

/** A tree whose processes come and go: 102 is new in image 2, 101 exits after it and a new process reuses its pid. */
const TREE: TreeStep[] = [
  { members: [{ pid: 100 }, { pid: 101 }] },
  { members: [{ pid: 100, dirty: [1, 2, 3] }, { pid: 101, dirty: [5] }, { pid: 102 }], zombies: [{ pid: 103, exitStatus: 3 << 8 }] },
  { members: [{ pid: 100, dirty: [2, 30] }, { pid: 102, dirty: [0, 39] }, { pid: 101, startTime: 99n }] },
  { members: [{ pid: 100, dirty: [7] }, { pid: 102, dirty: [8, 9] }, { pid: 101, startTime: 99n, dirty: [10] }] },
];

/** What a tree image holds, per section: the memory it resolves to, its records, and the process table. */
async function treeState(store: Store, crid: bigint) {
  const r = openImage(store, "main", crid);
  try {
    const sections = r.sections();
    const memory: string[] = [];
    for (const s of sections) memory.push(await memoryDigest(store, "main", crid, s.index));
    return { table: r.processTable(), pids: sections.map((s) => s.pid), trackers: sections.map((s) => s.records("TRACKER")), memory };
  } finally {
    r.close();
  }
}

/** Each block of an image: where, how many pages, its hash. */
function blocksOf(store: Store, crid: bigint) {
  const r = openImage(store, "main", crid);
  const blocks = r.blocks().map((b) => ({ vaddr: b.vaddr, pages: b.pages, hash: r.block(b.offset).bodyHash }));
  r.close();
  return blocks;
}

describe("coalesce of process-tree images", () => {
  it("keeps every process's memory, records and the process table; a process new since an older image or gone from it included", async () => {
    const store = newStore();
    const crids = await treeChain(store, "main", TREE);
    const before = await Promise.all(crids.map((c) => treeState(store, c)));
    expect(before[2]!.pids).toEqual([100, 102, 101]);
    const result = await coalesce(store, { branch: "main", keepLast: 2 });
    expect(result.removed).toEqual(crids.slice(0, 2).map(String));
    expect(result.rewritten).toEqual(crids.slice(2).map(String));
    for (const i of [2, 3]) expect(await treeState(store, crids[i]!)).toEqual(before[i]);
    const full = openImage(store, "main", crids[2]!);
    expect([full.header.parentCrid, full.references]).toEqual([0n, []]);
    full.close();
    expect((await verifyStore(store)).filter((r) => !r.ok)).toEqual([]);
  });

  it("--upto on a full image and two increments: the first increment becomes full, the second keeps its blocks whole", async () => {
    const store = newStore();
    const crids = await treeChain(store, "main", TREE.slice(0, 3));
    const before = await Promise.all(crids.map((c) => treeState(store, c)));
    const blocks = blocksOf(store, crids[2]!);
    const result = await coalesce(store, { branch: "main", upto: crids[1]! });
    expect(result.rewritten).toEqual(crids.slice(1).map(String));
    for (const i of [1, 2]) expect(await treeState(store, crids[i]!)).toEqual(before[i]);
    expect(blocksOf(store, crids[2]!)).toEqual(blocks);
    expect((await verifyStore(store)).filter((r) => !r.ok)).toEqual([]);
  });
});

describe("coalesce of a real process tree", () => {
  it("a full image and two increments of bash and two sleeps: every process's memory stays", async () => {
    const store = newStore();
    const tree = await sleepingTree();
    try {
      const crids: bigint[] = [];
      for (const incremental of [false, true, true]) crids.push((await snapshot(tree.pid, { store: store.dir, incremental })).crid);
      const before = await Promise.all(crids.map((c) => treeState(store, c)));
      expect(before[2]!.pids).toHaveLength(3);
      const result = await coalesce(store, { branch: "main", upto: crids[1]! });
      expect(result.rewritten).toEqual(crids.slice(1).map(String));
      for (const i of [1, 2]) expect(await treeState(store, crids[i]!)).toEqual(before[i]);
      // A rewritten tree image is the parent of the next increment, section by section as before.
      const next = await snapshot(tree.pid, { store: store.dir, incremental: true });
      expect(next.parent).toBe(crids[2]);
      expect((await treeState(store, next.crid)).pids).toEqual(before[2]!.pids);
      expect((await verifyStore(store)).filter((r) => !r.ok)).toEqual([]);
    } finally {
      tree.stop();
    }
  });
});

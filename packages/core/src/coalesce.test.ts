import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createBranch } from "./store/branches.js";
import { coalesce } from "./coalesce.js";
import { gc } from "./store/gc.js";
import type { Store } from "./store/store.js";
import { storeMaker } from "./store/store.test-util.js";
import { memoryDigest, syntheticChain } from "./synthetic.js";
import { verifyStore } from "./store/verify.js";
import { openImage } from "./store/store-images.js";

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

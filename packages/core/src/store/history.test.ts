import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createBranch } from "./branches.js";
import { coalesce } from "../coalesce.js";
import { storeGraph } from "./history.js";
import { Store } from "./store.js";
import { syntheticChain } from "../synthetic.js";

const dirs: string[] = [];
function newStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), "cr-history-"));
  dirs.push(dir);
  return Store.open(join(dir, "store"), { create: true });
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const small = { pages: 8, dirtyPerImage: 2 };

/** CRID -> parent, heads and forks, as storeGraph gives them (newest first). */
function shape(store: Store) {
  return storeGraph(store).map((n) => `${n.crid}<${n.parent ?? "-"} ${n.branches.join(",")}${n.heads.length ? ` head:${n.heads}` : ""}${n.forks.length ? ` fork:${n.forks}` : ""}`);
}

describe("storeGraph", () => {
  it("after a branch at K and a coalesce of main past K: main's oldest kept image has no parent, the branch still ends at K", async () => {
    const store = newStore();
    const main = await syntheticChain(store, { branch: "main", images: 8, ...small });
    createBranch(store, "exp", main[3]!);
    await coalesce(store, { branch: "main", keepLast: 3 });
    expect(shape(store)).toEqual(["8<7 main head:main", "7<6 main", "6<- main", "4<3 exp head:exp fork:exp", "3<2 exp", "2<1 exp", "1<- exp"]);
  });

  it("two branches forked at one point both lead to it", async () => {
    const store = newStore();
    const main = await syntheticChain(store, { branch: "main", images: 4, ...small });
    for (const [name, seed] of [["a", 2], ["b", 3]] as const) {
      createBranch(store, name, main[1]!);
      await syntheticChain(store, { branch: name, images: 1, parent: main[1]!, seed, ...small });
    }
    expect(shape(store)).toEqual(["6<2 b head:b", "5<2 a head:a", "4<3 main head:main", "3<2 main", "2<1 a,b,main fork:a,b", "1<- a,b,main"]);
  });

  it("a branch whose fork point main coalesced away keeps it, and its own images lead to it", async () => {
    const store = newStore();
    const main = await syntheticChain(store, { branch: "main", images: 5, ...small });
    createBranch(store, "exp", main[1]!);
    await syntheticChain(store, { branch: "exp", images: 2, parent: main[1]!, seed: 2, ...small });
    await coalesce(store, { branch: "main", keepLast: 2 });
    expect(shape(store)).toEqual(["7<6 exp head:exp", "6<2 exp", "5<4 main head:main", "4<- main", "2<1 exp fork:exp", "1<- exp"]);
  });
});

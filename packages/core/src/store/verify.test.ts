import { describe, expect, it } from "vitest";
import { storeMaker } from "./store.test-util.js";
import { TREE_PAGES, treeChain, treeIncrement } from "./tree.test-util.js";
import { verifyStore } from "./verify.js";

const newStore = storeMaker("cr-verify-");

describe("verifyStore of process-tree images", () => {
  it("resolves the REFs of every process's map", async () => {
    const store = newStore();
    const [full] = await treeChain(store, "main", [{ members: [{ pid: 100 }, { pid: 101 }] }]);
    const good = await treeIncrement(store, full!, 0);
    expect((await verifyStore(store)).map((r) => [r.crid, r.ok])).toEqual([[String(full), true], [String(good), true]]);
  });

  it("finds a REF past its block in a child's section, the root's map being whole", async () => {
    const store = newStore();
    const [full] = await treeChain(store, "main", [{ members: [{ pid: 100 }, { pid: 101 }] }]);
    const bad = await treeIncrement(store, full!, 2);
    const results = await verifyStore(store, { crid: bad });
    expect(results.map((r) => [r.crid, r.ok])).toEqual([[String(full), true], [String(bad), false]]);
    expect(results[1]!.problem).toMatch(new RegExp(`pages 0\\.\\.${TREE_PAGES + 2} within the ${TREE_PAGES} of block \\d+ of CRID ${full} \\(past the end\\)`));
  });
});

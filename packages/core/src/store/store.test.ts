import { describe, expect, it } from "vitest";
import { syntheticChain } from "../synthetic.js";
import { Store } from "./store.js";
import { storeMaker } from "./store.test-util.js";

const newStore = storeMaker("cr-store-");
const small = { pages: 8, dirtyPerImage: 2 };

describe("Store.branch", () => {
  it("reads branch.json again once it is replaced, by this store or by another one open on it", async () => {
    const store = newStore();
    const other = Store.open(store.dir, { create: false });
    expect(other.branch("main").entries).toEqual([]);
    await syntheticChain(store, { branch: "main", images: 3, ...small });
    expect(other.branch("main").entries.map((e) => e.crid)).toEqual(["1", "2", "3"]);
    await syntheticChain(other, { branch: "main", images: 1, ...small });
    expect(store.branch("main").entries.map((e) => e.crid)).toEqual(["1", "2", "3", "4"]);
    other.close();
  });

  it("gives each caller lists of its own, and entries no caller can change", async () => {
    const store = newStore();
    await syntheticChain(store, { branch: "main", images: 2, ...small });
    const first = store.branch("main");
    const before = JSON.stringify(first);
    first.entries.push({ ...first.entries[0]!, crid: "9" });
    first.heads["someone"] = "9";
    expect(JSON.stringify(store.branch("main"))).toBe(before);
    expect(() => Object.assign(store.branch("main").entries[0]!, { crid: "9" })).toThrow(TypeError);
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ImageReader } from "@cr/format";
import { describeImage } from "./inspect.js";
import { Store } from "./store.js";
import { syntheticChain } from "../synthetic.js";
import { snapshot } from "../checkpoint.js";
import { sleepingTree, TREE_PAGES, treeChain } from "./tree.test-util.js";

const dir = mkdtempSync(join(tmpdir(), "cr-inspect-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("describeImage", () => {
  it("sums an incremental image's page map by source, as its entries do", async () => {
    const store = Store.open(join(dir, "store"), { create: true });
    const crids = await syntheticChain(store, { branch: "main", pages: 700, images: 4, dirtyPerImage: 60 });
    const path = store.imagePath("main", crids[3]!);
    const want = new Map<string, { runs: number; pages: number }>();
    const reader = ImageReader.open(path);
    for (const e of reader.pageMap()) {
      const s = want.get(e.source) ?? { runs: 0, pages: 0 };
      want.set(e.source, { runs: s.runs + 1, pages: s.pages + e.pages });
    }
    reader.close();
    const got = describeImage(path).pageMap;
    expect(got.map((s) => s.source).sort()).toEqual(["data", "ref"]);
    expect(new Map(got.map(({ source, ...s }) => [source, s]))).toEqual(want);
    expect(got.reduce((n, s) => n + s.pages, 0)).toBe(700);
  });

  it("counts the page data by codec and the file's bytes by what they hold, from INDEX", async () => {
    const store = Store.open(join(dir, "sizes"), { create: true });
    const [crid] = await syntheticChain(store, { branch: "main", pages: 600, images: 1, dirtyPerImage: 0 });
    const d = describeImage(store.imagePath("main", crid!));
    expect(d.blocks).toEqual([{ codec: "raw", blocks: 3, pages: 600, bytes: expect.any(Number) }]);
    expect(d.blocks[0]!.bytes).toBeGreaterThanOrEqual(600 * 4096);
    expect(d.sizes.pageData).toBe(d.blocks[0]!.bytes);
    expect(d.sizes.pageData + d.sizes.pageMap + d.sizes.records + d.sizes.other).toBe(d.bytes);
    expect(d.sizes.pageMap).toBeGreaterThan(0);
  });
});

describe("describeImage of a process tree", () => {
  it("lists every running process with its own page map, and the zombies; the top-level fields are the root's", async () => {
    const store = Store.open(join(dir, "tree"), { create: true });
    const step = { members: [{ pid: 100 }, { pid: 101 }], zombies: [{ pid: 102, exitStatus: 3 << 8 }, { pid: 103, exitStatus: 9 }] };
    const crids = await treeChain(store, "main", [step, { ...step, members: [{ pid: 100, dirty: [1, 2] }, { pid: 101, dirty: [] }] }]);
    const d = describeImage(store.imagePath("main", crids[1]!));
    expect(d.processes.map((p) => [p.pid, p.pageMap])).toEqual([
      [100, [{ source: "ref", runs: 2, pages: TREE_PAGES - 2 }, { source: "data", runs: 1, pages: 2 }]],
      [101, [{ source: "ref", runs: 1, pages: TREE_PAGES }]],
    ]);
    expect(d.pageMap).toEqual(d.processes[0]!.pageMap);
    expect(d.zombies).toEqual([
      { pid: 102, ppid: 100, pgid: 100, sid: 100, exitStatus: 3 << 8, exit: "exit code 3" },
      { pid: 103, ppid: 100, pgid: 100, sid: 100, exitStatus: 9, exit: "signal 9" },
    ]);
    expect(d.chunks).toMatchObject({ PROCESS_TABLE: 1, MEMBER: 2, PAGE_MAP: 2 });
  });

  it("of a real tree: bash and its two sleeps, each with its threads, mappings and fds", async () => {
    const tree = await sleepingTree();
    try {
      const { crid } = await snapshot(tree.pid, { store: join(dir, "real"), incremental: false });
      const d = describeImage(Store.open(join(dir, "real"), { create: false }).imagePath("main", crid));
      expect(d.processes.map((p) => p.process?.comm)).toEqual(["bash", "sleep", "sleep"]);
      expect(d.processes.map((p) => p.pid)).toEqual(d.processes.map((p) => p.process?.pid));
      for (const p of d.processes) {
        expect(p.threads).toHaveLength(1);
        expect(p.mappings.length).toBeGreaterThan(0);
        expect(p.fds.length).toBeGreaterThan(0);
        // Every page of each map lies in one of its process's mappings.
        for (const { source, pages } of p.pageMap) expect(p.mappings.reduce((n, m) => n + m.pages[source], 0)).toBe(pages);
      }
      const { pid: _pid, ...root } = d.processes[0]!;
      expect(d).toMatchObject(root);
      expect(d.zombies).toEqual([]);
    } finally {
      tree.stop();
    }
  });
});

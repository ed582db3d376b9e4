import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ImageReader } from "@cr/format";
import { describeImage } from "./inspect.js";
import { Store } from "./store.js";
import { syntheticChain } from "../synthetic.js";

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

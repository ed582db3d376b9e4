import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ImageReader, inheritColumns } from "@cr/format";
import { processKey, snapshot } from "../checkpoint.js";
import { processTree } from "../objects/tree.js";
import { openParent } from "./parent.js";
import { Store } from "./store.js";
import { sleepingTree } from "./tree.test-util.js";

const dir = mkdtempSync(join(tmpdir(), "cr-parent-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pages of the address space. */
const ALL_PAGES = 2 ** 52;

describe("the parent of an increment", () => {
  it("is, in the process that wrote it, the maps it wrote, exactly as the image decodes them", async () => {
    const tree = await sleepingTree();
    const store = join(dir, "store");
    try {
      await snapshot(tree.pid, { store, incremental: false });
      const { crid } = await snapshot(tree.pid, { store, incremental: true }); // its maps inherit from the first
      const parent = openParent(Store.open(store, { create: false }), "main", processKey(tree.pid))!;
      const image = ImageReader.open(Store.open(store, { create: false }).imagePath("main", crid));
      try {
        expect(parent.crid).toBe(crid);
        const members = processTree(tree.pid);
        expect(members).toHaveLength(3);
        for (const [index, member] of members.entries()) {
          const section = parent.section(member.pid, member.stat.startTime, index === 0)!;
          const decoded = image.sections()[section.index]!.pageColumns();
          const inherited = section.inherit([{ start: 0n, pages: ALL_PAGES }]).columns;
          expect(inherited, `process ${member.pid}`).toEqual(inheritColumns(decoded, [{ first: 0, pages: ALL_PAGES }]));
        }
      } finally {
        image.close();
        parent.close();
      }
    } finally {
      tree.stop();
    }
  });
});

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
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

  it("stays whole while it is open, however many snapshots the process takes after it, on memory they lend and give back", async () => {
    const holder = await pythonWithScatteredPages(join(dir, "ready"));
    const pid = holder.pid!;
    const store = join(dir, "store-open");
    try {
      await snapshot(pid, { store, incremental: false });
      const { crid } = await snapshot(pid, { store, incremental: true });
      const parent = openParent(Store.open(store, { create: false }), "main", processKey(pid))!; // on the maps this process remembers
      const section = parent.section(pid, processTree(pid)[0]!.stat.startTime, true)!;
      for (let i = 0; i < 3; i++) await snapshot(pid, { store, incremental: true }); // each lends what the one before gave back
      const image = ImageReader.open(Store.open(store, { create: false }).imagePath("main", crid));
      try {
        const decoded = image.sections()[0]!.pageColumns();
        expect(decoded.length, "a map of more than 1 MiB of columns: on lent memory").toBeGreaterThan(30_000);
        expect(section.inherit([{ start: 0n, pages: ALL_PAGES }]).columns).toEqual(inheritColumns(decoded, [{ first: 0, pages: ALL_PAGES }]));
      } finally {
        image.close();
        parent.close();
      }
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

/** python3 with every other page of 256 MiB written (a map of 32k entries), once it wrote `ready`. */
async function pythonWithScatteredPages(ready: string): Promise<ChildProcess> {
  const script = `import mmap, sys, time\nm = mmap.mmap(-1, 256 << 20)\nfor i in range(0, 65536, 2): m[i * 4096] = 1\nopen(sys.argv[1], "w").close()\ntime.sleep(600)\n`;
  const child = spawn("python3", ["-c", script, ready], { stdio: "ignore" });
  for (const deadline = Date.now() + 10_000; !existsSync(ready); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("python3 did not write its pages");
  }
  return child;
}

// Process trees whose point is shared memory (issue 19): shared anonymous memory, memfds and
// /dev/shm files several processes map are saved once, incrementally, and shared again at restart.
// The other workloads are in restart-trees.test.ts (two files run side by side).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PageSource, pagesWhere } from "@cr/format";
import { cleanupTmp, fixture, tmpDir } from "./harness.js";
import { ImageCache } from "./image-pages.js";
import { expectChainRestartsLikeReference, killTree, referenceAndChain, restartAndWait, type TreeWorkload } from "./restart-helpers.js";

let dir: string;
const workloads: TreeWorkload[] = [
  // A parent, a reader in its own process group, a writer, shared anonymous memory, a pipe, a zombie.
  { name: "tree_target", command: fixture("tree_target"), args: ["2000"], processes: 3 },
  // A parent and a child sharing memfds (one sealed against writes) and /dev/shm files.
  { name: "memfd_target", command: fixture("memfd_target"), args: ["1400"], processes: 2 },
];

beforeAll(() => {
  dir = tmpDir("cr-trees-shm-");
});
afterAll(() => cleanupTmp());

describe("process trees sharing memory", () => {
  for (const w of workloads) {
    it(`${w.name}: 1 full snapshot and 20 increments of the whole tree, restart from the middle of the chain`, () => expectChainRestartsLikeReference(w, dir), 180_000);
  }
});

describe("shared memory several processes write", () => {
  it("is saved incrementally, only the pages written since, and a restart from the middle of the chain ends as an uninterrupted run", async () => {
    // 32 MiB of shared anonymous memory and an 8 MiB memfd mapped twice, written a page at a time by two children.
    const w = { name: "shared_sparse", command: fixture("shared_sparse"), args: ["2500"] };
    const store = join(dir, "chain-shared_sparse");
    const { ref, run, crids } = await referenceAndChain(w, dir, store, 11);
    const images = new ImageCache(store);
    try {
      const saved = (crid: bigint) => images.open(crid).sections().reduce((sum, s) => sum + pagesWhere(s.pageColumns(), (source) => source === PageSource.DATA), 0);
      const allRunning = (crid: bigint) => images.open(crid).sections().length === 3;
      // The first increment finds the children's mappings just registered (every page they never
      // touched counts as written); from the next on, only what the children wrote: at most
      // 2 pages a round each, far below the objects' 10240 pages. (Once a child has exited, the
      // objects are saved whole: its writes are no one's to report.)
      const steady = crids.slice(2).filter((crid, i) => allRunning(crid) && allRunning(crids[i + 1]!));
      expect(steady.length).toBeGreaterThanOrEqual(4);
      for (const crid of steady) expect(saved(crid), `checkpoint ${crid}`).toBeLessThan(5120);
    } finally {
      images.close();
    }
    await killTree(run.pid);
    const restarted = await restartAndWait(store, crids[5]!);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(readFileSync(run.out, "utf8")).toBe(ref.output.toString());
  }, 120_000);
});

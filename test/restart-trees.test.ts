// Process trees (issue 19): a workload of several processes is snapshotted 1 full + 20
// incremental times at random moments, killed whole, and restarted from the middle of its chain;
// it must write what an uninterrupted run writes, and leave no process behind. The workloads whose
// point is shared memory are in restart-trees-shared-memory.test.ts, make -j2 in
// restart-trees-make.test.ts (files run side by side).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { ImageCache } from "./image-pages.js";
import { expectChainRestartsLikeReference, killTree, PYTHON_POOL_SCRIPT, python3Binary, restartAndWait, snapshotChain, startWorkload, type Run, type TreeWorkload } from "./restart-helpers.js";

let dir: string;
const workloads: TreeWorkload[] = [
  // Three processes with data in flight in their pipes.
  { name: "shell-pipeline", command: "bash", args: ["-c", 'seq 1 30000000 | awk "{s+=\\$1} NR%1000000==0 {print s}" | sha256sum'], processes: 3 },
  // Python's multiprocessing.Pool(2), forked: pipes, and semaphores in deleted /dev/shm files mapped by all three.
  { name: "python-pool", command: python3Binary(), args: ["-c", PYTHON_POOL_SCRIPT, "600"], processes: 3 },
  // A parent, its server and its acceptor: a stream and a datagram socketpair with bytes in flight
  // both ways, a listening socket bound to a path, connected to every few rounds. The acceptor
  // waits in poll(-1) across snapshots: restarted, it must wait on, not fail with EINTR.
  { name: "socket_tree", command: fixture("socket_tree"), args: ["1200"], processes: 3 },
];

beforeAll(() => {
  dir = tmpDir("cr-trees-");
});
afterAll(() => cleanupTmp());

describe("process trees", () => {
  for (const w of workloads) {
    // A hang guard: each chain runs its workload twice, longer on a loaded machine.
    it(`${w.name}: 1 full snapshot and 20 increments of the whole tree, restart from the middle of the chain`, () => expectChainRestartsLikeReference(w, dir), 180_000);
  }
});

/**
 * A snapshot of the run while a child of the shell holds its output file: one that records the
 * child's fd 1 as the shell's (a snapshot between two children, or while the shell's command
 * substitution runs, has no such child, and is taken again).
 */
async function snapshotSharing(run: Run, store: string): Promise<bigint> {
  const images = new ImageCache(store);
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      await sleep(100);
      const [crid] = await snapshotChain(run, store, 1, 0);
      const shared = images.open(crid!).records("TREE_SHARED_FDS").flatMap((r) => r.fds);
      if (shared.some((f) => f.fd === 1 && f.pid === run.pid && f.sameAs === 1)) return crid!;
    }
  } finally {
    images.close();
  }
  throw new Error("20 snapshots found no child of the shell holding its output file");
}

describe("open files shared across the tree", () => {
  it("a shell and the children it forks write their output file through one offset after a restart", async () => {
    // Each child sleeps, then writes its line; the shell writes its own after the child exits.
    // Opened twice at restart, the file would have two offsets: the shell's would not move past
    // the child's line, and the shell's next line would overwrite it.
    const w = { name: "shared-output", command: "bash", args: ["-c", 'for i in $(seq 1 12); do (sleep 0.3; echo "child $i"); echo "parent $i"; done'] };
    const run = startWorkload(w, dir, "chain");
    const store = join(dir, "chain-shared-output");
    const crid = await snapshotSharing(run, store);
    await killTree(run.pid);
    const restarted = await restartAndWait(store, crid);
    expect(restarted.code, restarted.stderr).toBe(0);
    const expected = Array.from({ length: 12 }, (_, i) => `child ${i + 1}\nparent ${i + 1}\n`).join("");
    expect(readFileSync(run.out, "utf8")).toBe(expected);
  }, 60_000);
});


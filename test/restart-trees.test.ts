// Process trees (issue 19): a workload of several processes is snapshotted 1 full + 20
// incremental times at random moments, killed whole, and restarted from the middle of its chain;
// it must write what an uninterrupted run writes, and leave no process behind.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTmp, fixture, sleep, tmpDir } from "./harness.js";
import { PageSource, pagesWhere } from "@cr/format";
import { ImageCache } from "./image-pages.js";
import { killTree, makeCProject, PYTHON_POOL_SCRIPT, python3Binary, reference, restartAndWait, snapshotChain, sooner, startWorkload, treeOf, type Run, type Workload } from "./restart-helpers.js";

let dir: string;
/** Each workload with the fewest processes its tree has once it runs. */
const workloads: (Workload & { processes: number })[] = [
  // Three processes with data in flight in their pipes.
  { name: "shell-pipeline", command: "bash", args: ["-c", 'seq 1 30000000 | awk "{s+=\\$1} NR%1000000==0 {print s}" | sha256sum'], processes: 3 },
  // A parent, a reader in its own process group, a writer, shared anonymous memory, a pipe, a zombie.
  { name: "tree_target", command: fixture("tree_target"), args: ["2000"], processes: 3 },
  // Python's multiprocessing.Pool(2), forked: pipes, and semaphores in deleted /dev/shm files mapped by all three.
  { name: "python-pool", command: python3Binary(), args: ["-c", PYTHON_POOL_SCRIPT, "600"], processes: 3 },
  // A parent and a child sharing memfds (one sealed against writes) and /dev/shm files.
  { name: "memfd_target", command: fixture("memfd_target"), args: ["1400"], processes: 2 },
  // make, sh, gcc and its cc1 and as: the built binary must be the same.
  { name: "make-j2", command: "bash", args: ["-c", "cd project && make -s clean && make -j2 -s && sha256sum prog"], processes: 3 },
  // A parent, its server and its acceptor: a stream and a datagram socketpair with bytes in flight
  // both ways, a listening socket bound to a path, connected to every few rounds. The acceptor
  // waits in poll(-1) across snapshots: restarted, it must wait on, not fail with EINTR.
  { name: "socket_tree", command: fixture("socket_tree"), args: ["1200"], processes: 3 },
];

beforeAll(() => {
  dir = tmpDir("cr-trees-");
  makeCProject(join(dir, "project"), 24);
});
afterAll(() => cleanupTmp());

describe("process trees", () => {
  for (const w of workloads) {
    it(`${w.name}: 1 full snapshot and 20 increments of the whole tree, restart from the middle of the chain`, async () => {
      const ref = await reference(w, dir);
      const store = join(dir, `chain-${w.name}`);
      const { run, crids, members } = await sooner(async (scale) => {
        const run = startWorkload(w, dir, "chain");
        await sleep(Math.min(300, ref.ms / 10) * scale); // the children exist by then
        const crids = await snapshotChain(run, store, 21, ref.ms * 0.5 * scale);
        return { run, crids, members: treeOf(run.pid) };
      });
      expect(members.length).toBeGreaterThanOrEqual(w.processes);
      await killTree(run.pid);
      const restarted = await restartAndWait(store, crids[10]!);
      // The restored tree writes its own errors where the original did.
      expect(restarted.code, `${restarted.stderr}${readFileSync(join(dir, `${w.name}-chain.err`), "utf8")}`).toBe(0);
      expect(readFileSync(run.out).equals(ref.output), readFileSync(run.out, "utf8")).toBe(true);
      // Every restored process was reaped by its restored parent, the root by cr: none is left.
      expect(members.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    }, 180_000); // a hang guard: each chain runs its workload twice, longer on a loaded machine
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

describe("shared memory several processes write", () => {
  it("is saved incrementally, only the pages written since, and a restart from the middle of the chain ends as an uninterrupted run", async () => {
    // 32 MiB of shared anonymous memory and an 8 MiB memfd mapped twice, written a page at a time by two children.
    const w = { name: "shared_sparse", command: fixture("shared_sparse"), args: ["2500"] };
    const ref = await reference(w, dir);
    const store = join(dir, "chain-shared_sparse");
    const { run, crids } = await sooner(async (scale) => {
      const run = startWorkload(w, dir, "chain");
      await sleep(Math.min(300, ref.ms / 10) * scale);
      return { run, crids: await snapshotChain(run, store, 11, ref.ms * 0.5 * scale) };
    });
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

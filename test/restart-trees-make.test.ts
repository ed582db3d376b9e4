// A process tree that builds software (issue 19, as restart-trees.test.ts): `make -j2` with sh,
// gcc and its cc1 and as, snapshotted 1 full + 20 incremental times at random moments, killed
// whole, and restarted from the middle of its chain: the built binary must be the same as an
// uninterrupted build's. (A file of its own: the longest of the tree workloads.)
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { cleanupTmp, tmpDir } from "./harness.js";
import { expectChainRestartsLikeReference, makeCProject, type TreeWorkload } from "./restart-helpers.js";

let dir: string;
const make: TreeWorkload = { name: "make-j2", command: "bash", args: ["-c", "cd project && make -s clean && make -j2 -s && sha256sum prog"], processes: 3 };

beforeAll(() => {
  dir = tmpDir("cr-trees-make-");
  makeCProject(join(dir, "project"), 24);
});
afterAll(() => cleanupTmp());

describe("process trees", () => {
  // A hang guard: the chain runs the build twice, longer on a loaded machine.
  it(`${make.name}: 1 full snapshot and 20 increments of the whole tree, restart from the middle of the chain`, () => expectChainRestartsLikeReference(make, dir), 180_000);
});

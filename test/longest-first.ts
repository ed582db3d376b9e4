// Test file order: the longest files first, so that none of them starts last and alone keeps the
// run going (four run at a time: vitest.config.ts). In a fresh checkout vitest knows no durations
// and orders by file size, which puts the small files that hold long tests (chains.ts's) last.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The longest files, longest first (a loaded run: 60-165 s each). */
const LONGEST = [
  "test/snapshot-unnoticed.test.ts",
  "test/restart-trees-make.test.ts",
  "test/zdtm-chains.test.ts",
  "test/restart-trees.test.ts",
  "test/restart-chains.test.ts",
  "test/snapshot-tree-safety.test.ts",
  "packages/core/src/objects/memory.test.ts",
  "test/snapshot-killed-write-back.test.ts",
  "test/zdtm.test.ts",
  "test/restart-chains-programs.test.ts",
  "test/restart-trees-shared-memory.test.ts",
];

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const at = LONGEST.findIndex((name) => file.moduleId.endsWith(name));
      return at < 0 ? LONGEST.length : at;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

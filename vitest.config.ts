import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import LongestFirst from "./test/longest-first.js";

const src = (pkg: string, file = "index.ts") =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url));

// Tests run on the TypeScript sources: no build step between an edit and a test run.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@cr\/format$/, replacement: src("format") },
      { find: /^@cr\/native$/, replacement: src("native") },
      { find: /^@cr\/core$/, replacement: src("core") },
      { find: /^@cr\/core\/names$/, replacement: src("core", "names.ts") },
      { find: /^@cr\/core\/log$/, replacement: src("core", "log.ts") },
    ],
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Four files at a time: most of a test is waiting for the processes it drives, and under
    // load from beside the suite more runnable test processes get a larger share of the cores.
    // The longest files are split (snapshot-unnoticed/-killed, restart-equivalence/-chains) so
    // that no one file is the whole run's critical path.
    fileParallelism: true,
    sequence: { sequencer: LongestFirst },
    maxWorkers: 4,
    minWorkers: 1,
    // A describe.concurrent runs this many tests at once (test/zdtm.test.ts: CLI runs of 2 cores).
    maxConcurrency: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string, file = "index.ts") =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url));

// Tests run on the TypeScript sources: no build step between an edit and a test run.
export default defineConfig({
  resolve: {
    alias: {
      "@cr/format": src("format"),
      "@cr/native": src("native"),
      "@cr/core": src("core"),
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Tests drive real processes and ptrace: keep files from competing for the 2 cores.
    fileParallelism: false,
    // A describe.concurrent runs this many tests at once (test/zdtm.test.ts: CLI runs of 2 cores).
    maxConcurrency: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

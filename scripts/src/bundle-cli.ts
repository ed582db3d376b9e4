/**
 * Bundles the built command line (packages/cli/dist/main.js and what it imports of core and
 * format) into packages/cli/dist/bundle/: one file to start, and a chunk for what each command
 * imports when it runs. Node 20 resolves and reads every ES module separately, which cost
 * `cr --version` ~30 ms over one file. The native addon stays outside (@cr/native finds its .node
 * file next to itself), and is loaded only by the commands that use it.
 */
import { build } from "esbuild";
import { renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = (path: string) => fileURLToPath(new URL(`../../packages/cli/${path}`, import.meta.url));

const BUNDLE_DIR = cli("dist/bundle");

/** Builds beside the bundle, then swaps it in: a `cr` starting meanwhile finds one or the other whole. */
export async function bundleCli(): Promise<void> {
  const fresh = `${BUNDLE_DIR}.new`;
  const old = `${BUNDLE_DIR}.old`;
  rmSync(fresh, { recursive: true, force: true });
  await build({
    entryPoints: { cr: cli("dist/main.js") },
    outdir: fresh,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["@cr/native"],
    // commander is CommonJS: its require() calls of node's modules need a real require.
    banner: { js: 'import { createRequire as createRequireForCommonJs } from "node:module"; const require = createRequireForCommonJs(import.meta.url);' },
    logLevel: "warning",
  });
  rmSync(old, { recursive: true, force: true });
  try {
    renameSync(BUNDLE_DIR, old);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error; // the first build
  }
  renameSync(fresh, BUNDLE_DIR);
  rmSync(old, { recursive: true, force: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleCli();

/**
 * Bundles the built command line (packages/cli/dist/main.js and what it imports of core and
 * format) into packages/cli/dist/bundle/: one file to start, and a chunk for what each command
 * imports when it runs. Node 20 resolves and reads every ES module separately, which cost
 * `cr --version` ~30 ms over one file. The native addon stays outside (@cr/native finds its .node
 * file next to itself), and is loaded only by the commands that use it.
 */
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = (path: string) => fileURLToPath(new URL(`../../packages/cli/${path}`, import.meta.url));

export const BUNDLE_DIR = cli("dist/bundle");

export async function bundleCli(): Promise<void> {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  await build({
    entryPoints: { cr: cli("dist/main.js") },
    outdir: BUNDLE_DIR,
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
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleCli();

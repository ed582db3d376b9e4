import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../packages/cli/dist/bundle/cr.js", import.meta.url));

/** Node's arguments to run the built `cr` with `args`, as its shebang does (packages/cli/src/main.ts). */
export function crArgs(...args: string[]): string[] {
  return ["--min-semi-space-size=16", "--no-lazy", "--expose-gc", main, ...args];
}

// Builds the cr command line for a test run (test/global-setup.ts), once, before any test file
// starts: a build during the run would swap the bundle under a running `cr`.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { cliMain, repoRoot } from "./cli-paths.js";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (name.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the TypeScript packages (tsc -b) and the bundle when it is missing or older than a source. */
export function buildCliIfStale(): void {
  const sources = ["cli", "core", "format", "native"].map((p) => newestMtime(join(repoRoot, "packages", p, "src")));
  if (existsSync(cliMain) && statSync(cliMain).mtimeMs >= Math.max(...sources)) return;
  try {
    execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), ["-b"], { cwd: repoRoot, stdio: "pipe" });
    execFileSync(process.execPath, [join(repoRoot, "scripts", "dist", "bundle-cli.js")], { cwd: repoRoot, stdio: "pipe" });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`building the cr CLI failed:\n${String(err.stdout ?? "")}${String(err.stderr ?? "")}`);
  }
}

import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));
/** The built command line, what the installed launcher runs. */
export const cliMain = join(repoRoot, "packages", "cli", "dist", "bundle", "cr.js");

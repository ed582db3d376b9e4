import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileTarget, startTarget } from "./bench-snapshot.js";

/**
 * The README's main job: a built-in workload goes through cr's command line, step by step,
 * printing each command and what it answered.
 */
const cli = fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url));
const store = mkdtempSync(join(tmpdir(), "cr-demo-"));

function cr(...args: string[]): string {
  console.log(`\n$ cr ${args.join(" ")}`);
  const out = execFileSync(process.execPath, [cli, ...args, ...(args[0] === "check" ? [] : ["--store", store])], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  process.stdout.write(out);
  return out.trim();
}

const workload = await startTarget(compileTarget(), 256);
console.log(`workload: pid ${workload.pid}, 256 MiB of memory it keeps changing; store: ${store}`);
try {
  cr("check", String(workload.pid));
  cr("snapshot", String(workload.pid));
  let last = "";
  for (let i = 0; i < 3; i++) {
    await workload.command("dirty 10"); // the workload writes 1% of its pages
    last = cr("snapshot", String(workload.pid), "--incremental");
  }
  cr("inspect", last);
  console.log(`\nThe workload (pid ${workload.pid}) ran on throughout.`);
} finally {
  workload.stop();
}

import { benchCoalesce } from "./bench-coalesce.js";
import { benchFormat } from "./bench-format.js";
import { benchMachine } from "./bench-machine.js";
import { benchPauses } from "./bench-pauses.js";
import { benchRestart } from "./bench-restart.js";
import { benchSnapshot } from "./bench-snapshot.js";
import { benchStartup } from "./bench-startup.js";
import type { Row } from "./bench-table.js";
import { printTable } from "./bench-table.js";

/**
 * `pnpm bench`: every performance figure of cr in one table. Speed is measured here, never in
 * timed unit tests. Run as root (snapshots use ptrace).
 */
const parts: [string, () => Promise<Row[]>][] = [
  ["machine", benchMachine],
  ["format", benchFormat],
  ["startup", benchStartup],
  ["snapshot", benchSnapshot],
  ["pause", benchPauses],
  ["restart", benchRestart],
  ["coalesce", benchCoalesce],
];

// `pnpm bench coalesce restart` runs only those parts.
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !parts.some(([name]) => name === w));
if (unknown.length > 0) {
  process.stderr.write(`bench: no part ${unknown.join(", ")} (parts: ${parts.map(([name]) => name).join(", ")})\n`);
  process.exit(2);
}
const rows: Row[] = [];
for (const [name, run] of parts.filter(([name]) => wanted.length === 0 || wanted.includes(name))) {
  process.stderr.write(`bench: ${name}...\n`);
  rows.push(...(await run()));
}
printTable(rows);

import { benchFormat } from "./bench-format.js";
import { benchRestart } from "./bench-restart.js";
import { benchSnapshot } from "./bench-snapshot.js";
import type { Row } from "./bench-table.js";
import { printTable } from "./bench-table.js";

/**
 * `pnpm bench`: every performance figure of cr in one table. Speed is measured here, never in
 * timed unit tests. Run as root (snapshots use ptrace).
 */
const parts: [string, () => Promise<Row[]>][] = [
  ["format", benchFormat],
  ["snapshot", benchSnapshot],
  ["restart", benchRestart],
];

const rows: Row[] = [];
for (const [name, run] of parts) {
  process.stderr.write(`bench: ${name}...\n`);
  rows.push(...(await run()));
}
printTable(rows);

import type { Command } from "commander";
import { storeOption } from "../args.js";
import { drawGraph } from "../graph.js";
import { formatBytes, formatMs, table, toJson } from "../output.js";

export function registerLog(program: Command): void {
  program
    .command("log")
    .description("Show history, newest first: CRID, parent, time, size, dirty pages, downtime.")
    .addOption(storeOption())
    .option("--branch <name>", "only this branch (default: main, or a copied branch directory's own; with --graph: every branch)")
    .option("--graph", "draw the branches like `git log --graph`")
    .option("--json", "print the history as JSON")
    .addHelpText("after", "\nExamples:\n  cr log\n  cr log --branch what-if --json\n  cr log --graph")
    .action(async (options: { store?: string; branch?: string; graph?: boolean; json?: boolean }) => {
      const { branchHistory, Store, storeDir, storeGraph } = await import("@cr/core/log");
      const store = Store.open(storeDir(options.store), { create: false });
      if (options.graph) {
        const nodes = storeGraph(store, options.branch);
        if (options.json) {
          console.log(toJson(nodes.map(({ entry, ...n }) => ({ ...n, time: entry.time, bytes: entry.bytes, dirtyPages: entry.dirtyPages, downtimeMs: entry.downtimeMs }))));
          return;
        }
        const rows = nodes.map((n) => {
          const labels = [...n.heads.map((b) => `${b}`), ...n.forks.map((b) => `${b} forked here`)];
          const e = n.entry;
          const text = `${n.crid}${labels.length ? ` (${labels.join(", ")})` : ""}  ${e.time.replace("T", " ").slice(0, 19)}  ${formatBytes(e.bytes)}  ${e.dirtyPages} dirty  downtime ${formatMs(e.downtimeMs)}`;
          return { id: n.crid, parent: n.parent, text };
        });
        for (const line of drawGraph(rows)) console.log(line);
        return;
      }
      const history = branchHistory(store, options.branch ?? store.defaultBranch);
      if (options.json) {
        console.log(toJson(history));
        return;
      }
      console.log(
        table(
          ["CRID", "PARENT", "TIME", "SIZE", "DIRTY", "DOWNTIME", "PID"],
          history.map((e) => [e.crid, e.parent ?? "-", e.time.replace("T", " ").slice(0, 19), formatBytes(e.bytes), String(e.dirtyPages), formatMs(e.downtimeMs), String(e.pid)]),
        ),
      );
    });
}

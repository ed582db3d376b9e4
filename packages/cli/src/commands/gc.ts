import type { Command } from "commander";
import { storeOption } from "../args.js";
import { formatBytes, toJson } from "../output.js";

export function registerGc(program: Command): void {
  program
    .command("gc")
    .description("Remove what no branch references: unlisted images, temporary files, leftovers of killed commands.")
    .addOption(storeOption())
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  cr gc")
    .action(async (options: { store?: string; json?: boolean }) => {
      const { gc, Store, storeDir } = await import("@cr/core");
      const result = gc(Store.open(storeDir(options.store), { create: false }));
      if (options.json) console.log(toJson(result));
      else console.log(`removed ${result.removed.length} file(s), ${formatBytes(result.freedBytes)} freed`);
    });
}

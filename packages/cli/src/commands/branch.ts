import type { Command } from "commander";
import { parseCrid, storeOption } from "../args.js";
import { toJson } from "../output.js";

export function registerBranch(program: Command): void {
  program
    .command("branch")
    .description("Start a new branch at a CRID: hardlinks to the images of its chain, no page data copied.")
    .argument("<name>", "name of the new branch")
    .requiredOption("--from <crid>", "the checkpoint the branch starts from", parseCrid)
    .option("--source <branch>", "branch to take the CRID from (when branches hold different images of it)")
    .addOption(storeOption())
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample:\n  cr branch what-if --from 7      then: cr restart --at 7 --branch what-if")
    .action(async (name: string, options: { from: bigint; source?: string; store?: string; json?: boolean }) => {
      const { createBranch, Store, storeDir } = await import("@cr/core");
      const store = Store.open(storeDir(options.store), { create: false });
      const result = createBranch(store, name, options.from, options.source);
      if (options.json) console.log(toJson(result));
      else console.log(`branch ${result.name} at CRID ${result.from} (from ${result.source}; ${result.linked.length} image(s) linked)`);
    });
}

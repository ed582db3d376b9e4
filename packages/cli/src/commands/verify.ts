import type { Command } from "commander";
import { parseCrid, storeOption } from "../args.js";
import { formatBytes, table, toJson } from "../output.js";
import { progressBar } from "../progress.js";

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("Check every hash of every image and every REF of every chain (or only CRID's chain).")
    .argument("[crid]", "verify only this checkpoint's chain", parseCrid)
    .addOption(storeOption())
    .option("--branch <name>", "only this branch")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExamples:\n  cr verify\n  cr verify 12 --branch main")
    .action(async (crid: bigint | undefined, options: { store?: string; branch?: string; json?: boolean }) => {
      const { Store, storeDir, verifyStore } = await import("@cr/core");
      const store = Store.open(storeDir(options.store), { create: false });
      const bar = progressBar("verify");
      const results = await verifyStore(store, {
        ...(crid !== undefined ? { crid } : {}),
        ...(options.branch !== undefined ? { branch: options.branch } : {}),
        onProgress: bar.update,
      }).finally(() => bar.done());
      const bad = results.filter((r) => !r.ok);
      if (options.json) console.log(toJson({ ok: bad.length === 0, images: results }));
      else console.log(table(["BRANCH", "CRID", "SIZE", "STATUS"], results.map((r) => [r.branch, r.crid, formatBytes(r.bytes), r.ok ? "ok" : `BAD: ${r.problem}`])));
      if (bad.length > 0) {
        process.stderr.write(`cr: ${bad.length} of ${results.length} image(s) failed verification; first: ${bad[0]!.problem}\n`);
        process.exitCode = 1;
      }
    });
}

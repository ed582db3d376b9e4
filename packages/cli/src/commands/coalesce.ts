import { InvalidArgumentError, Option, type Command } from "commander";
import { CrError, DEFAULT_BRANCH } from "@cr/core/names";
import { parseCrid, storeOption } from "../args.js";
import { formatBytes, formatMs, toJson } from "../output.js";
import { progressBar } from "../progress.js";

function parseCount(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a positive number`);
  return Number(value);
}

export function registerCoalesce(program: Command): void {
  program
    .command("coalesce")
    .description(
      "Drop the oldest images of a branch: the oldest kept point becomes a full image and later images are rewritten as needed. Other branches are untouched; space comes back when no branch links an image any more.",
    )
    .addOption(storeOption())
    .option("--branch <name>", "branch to coalesce", DEFAULT_BRANCH)
    .addOption(new Option("--upto <crid>", "make CRID the oldest kept point of its chain").argParser(parseCrid).conflicts("keepLast"))
    .addOption(new Option("--keep-last <n>", "keep the last N images of every line of history").argParser(parseCount))
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExamples:\n  cr coalesce --keep-last 5\n  cr coalesce --branch what-if --upto 12")
    .action(async (options: { store?: string; branch: string; upto?: bigint; keepLast?: number; json?: boolean }) => {
      if (options.upto === undefined && options.keepLast === undefined) {
        throw new CrError("cr coalesce needs to know what to keep: --keep-last N or --upto CRID (e.g. cr coalesce --keep-last 5)", { code: "USAGE" });
      }
      const { coalesce, Store, storeDir } = await import("@cr/core");
      const store = Store.open(storeDir(options.store), { create: false });
      const bar = progressBar("coalesce");
      const result = await coalesce(store, {
        branch: options.branch,
        ...(options.upto !== undefined ? { upto: options.upto } : {}),
        ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
        onProgress: bar.update,
      }).finally(() => bar.done());
      if (options.json) {
        console.log(toJson(result));
        return;
      }
      if (result.removed.length === 0) {
        console.log(`branch ${result.branch}: nothing to coalesce (${result.kept.length} image(s) kept)`);
        return;
      }
      console.log(
        `branch ${result.branch}: removed ${result.removed.length} image(s), kept ${result.kept.length}, rewrote ${result.rewritten.length} ` +
          `(${formatBytes(result.bytesWritten)} written, ${formatBytes(result.pageBytesCopied)} of pages copied) in ${formatMs(result.ms)}`,
      );
    });
}

import type { Command } from "commander";
import { closeSync, fstatSync, openSync } from "node:fs";
import type { ImportResult } from "@cr/core";
import { CrError, DEFAULT_BRANCH } from "@cr/core/names";
import type { ByteSource } from "@cr/format";
import { storeOption } from "../args.js";
import { cridList, formatBytes, toJson } from "../output.js";
import { progressBar } from "../progress.js";

interface ImportFlags {
  branch: string;
  store?: string;
  json?: boolean;
}

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("Add the images of a stream written by cr export to a store, under their own CRIDs, once every hash and every REF is checked.")
    .argument("[file]", "the stream (default, or -: stdin, unless it is a terminal)")
    .option("--branch <name>", "the branch to add them to, made if missing", DEFAULT_BRANCH)
    .addOption(storeOption())
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `
Examples:
  cr export 7 | cr import --store /backup/cr -    copy CRID 7's chain into another store
  ssh host cr export 7 | cr import -              bring it from another machine; then: cr restart --at 7
  cr import backup.crs --branch restored`,
    )
    .action(async (file: string | undefined, flags: ImportFlags) => {
      const fromStdin = file === undefined || file === "-";
      if (fromStdin && process.stdin.isTTY) throw new CrError("stdin is a terminal: name a FILE, or pipe a stream in (cr export CRID | cr import -)", { code: "USAGE" });
      const input = fromStdin ? await stdinInput() : await fileInput(file);
      try {
        // The stream's header first: a file that is no stream creates no store.
        const { StreamReader } = await import("@cr/format");
        const { importImages, Store, storeDir } = await import("@cr/core");
        const stream = await StreamReader.open(input.source);
        const store = Store.open(storeDir(flags.store), { create: true });
        const bar = progressBar("import");
        const result = await importImages(store, stream, { branch: flags.branch, onProgress: (done, total) => bar.update(done, total) }).finally(() => bar.done());
        console.log(flags.json ? toJson({ store: store.dir, ...result }) : summary(result, store.dir));
      } finally {
        input.close();
      }
    });
}

function summary(r: ImportResult, store: string): string {
  const held = r.skipped.length > 0 ? `; ${cridList(r.skipped)} already there` : "";
  if (r.imported.length === 0) return `nothing new for branch "${r.branch}" of ${store}${held}`;
  return `imported ${cridList(r.imported)} into branch "${r.branch}" of ${store} (${formatBytes(r.bytes)} read)${held}`;
}

interface Input {
  source: ByteSource;
  close(): void;
}

async function stdinInput(): Promise<Input> {
  const { StreamSource } = await import("@cr/format");
  const source = new StreamSource({ path: "<stdin>", kind: "stream" }, process.stdin);
  return { source, close: () => void source.close() };
}

async function fileInput(path: string): Promise<Input> {
  const { FdSource } = await import("@cr/format");
  const { systemError } = await import("@cr/core");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") throw new CrError(`no stream file ${path}`, { code: "ENOENT", path });
    throw systemError("open", path, error);
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new CrError(`${path} is a directory, not a stream of cr export`, { code: "EISDIR", path });
  }
  return { source: new FdSource({ path, kind: "stream" }, fd), close: () => closeSync(fd) };
}

import type { Command } from "commander";
import { closeSync, constants as fsc, fsyncSync, openSync, unlinkSync } from "node:fs";
import { CrError } from "@cr/core/names";
import type { ImageSink } from "@cr/format";
import { parseCrid, storeOption } from "../args.js";
import { cridList, formatBytes } from "../output.js";
import { progressBar } from "../progress.js";

interface ExportFlags {
  since?: bigint;
  branch?: string;
  store?: string;
}

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("Write a checkpoint and every image it needs, with their history, as one stream (for cr import) to a file or stdout.")
    .argument("<crid>", "the checkpoint to export", parseCrid)
    .argument("[file]", "where to write the stream, never over an existing file (default, or -: stdout, unless it is a terminal)")
    .option("--since <crid>", "leave out this checkpoint and every image it needs: the receiver has them", parseCrid)
    .option("--branch <name>", "branch to read (default: the one holding CRID, main first)")
    .addOption(storeOption())
    .addHelpText(
      "after",
      `
Examples:
  cr export 7 | ssh host cr import -              CRID 7's whole chain to another machine's store
  cr export 9 --since 7 | ssh host cr import -    then only the images after 7
  cr export 7 backup.crs                          into a file; later: cr import backup.crs`,
    )
    .action(async (crid: bigint, file: string | undefined, flags: ExportFlags) => {
      const toStdout = file === undefined || file === "-";
      // Before anything is read: binary on a terminal is of no use and can upset it.
      if (toStdout && process.stdout.isTTY) throw new CrError("not writing an image stream to a terminal: name a FILE or redirect stdout (cr export CRID > FILE, cr export CRID | cr import -)", { code: "USAGE" });
      const { planExport, Store, storeDir } = await import("@cr/core");
      const store = Store.open(storeDir(flags.store), { create: false });
      const plan = planExport(store, { crid, ...(flags.since !== undefined ? { since: flags.since } : {}), ...(flags.branch !== undefined ? { branch: flags.branch } : {}) });
      try {
        const output = toStdout ? stdoutOutput() : await fileOutput(file);
        const bar = progressBar("export");
        try {
          await plan.write(output.sink, (done, total) => bar.update(done, total));
          output.finish();
        } catch (error) {
          output.abandon();
          throw await writeError(error, output.name);
        } finally {
          bar.done();
        }
      } finally {
        plan.close();
      }
      if (!toStdout) console.log(`wrote ${cridList(plan.crids)} of branch "${plan.branch}" (${plan.crids.length} image(s), ${formatBytes(plan.bytes)}) to ${file}`);
    });
}

interface Output {
  name: string;
  sink: ImageSink;
  finish(): void;
  /** After a failure: a file written in part is removed. */
  abandon(): void;
}

function stdoutOutput(): Output {
  // A failed write (EPIPE: the reader is gone) is reported through the write's callback, and from there in one line.
  process.stdout.on("error", () => undefined);
  return { name: "stdout", sink: process.stdout, finish() {}, abandon() {} };
}

/** A new file (0600: it holds process memory), never one that exists; durable once finished. */
async function fileOutput(path: string): Promise<Output> {
  const { systemError } = await import("@cr/core");
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") throw new CrError(`${path} exists: cr export writes a new file, never over one`, { code: "EEXIST", path });
    throw systemError("create", path, error);
  }
  return {
    name: path,
    sink: fd,
    finish() {
      fsyncSync(fd);
      closeSync(fd);
    },
    abandon() {
      closeSync(fd);
      unlinkSync(path);
    },
  };
}

/** A failed write as one line; other errors (a damaged image, ...) as they are. */
async function writeError(error: unknown, name: string): Promise<unknown> {
  const syscall = (error as { syscall?: unknown } | null)?.syscall;
  if (syscall !== "write" && syscall !== "writev" && syscall !== "fsync") return error;
  if ((error as { code?: unknown }).code === "EPIPE") return new CrError(`cannot write the stream to ${name}: its reader closed the pipe (EPIPE)`, { code: "EPIPE", path: name });
  const { systemError } = await import("@cr/core");
  return systemError("write the stream to", name, error);
}

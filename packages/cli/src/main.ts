#!/usr/bin/env -S node --min-semi-space-size=16 --no-lazy --expose-gc
// V8's young generation starts at 1 MiB: a snapshot allocates more than that while its target
// is frozen, and each scavenge there cost milliseconds of downtime (fresh pages fault through
// this VM's hypervisor). From 16 MiB, the one-process downtime median at chain depth 100 went
// from 28-30 to 17.6 ms. And V8 compiles a function when it first runs: `--no-lazy` compiles
// them all at start-up (~20 ms more) instead of inside the freeze, where a fresh `cr snapshot
// --incremental` of the 1%-dirty 1 GiB bench target then froze it 15-22 ms against 22-25.
// `--expose-gc` lets a snapshot empty the young generation just before the freeze
// (emptyYoungGeneration, checkpoint.ts): ~1.5 ms less downtime for that snapshot.
// The installed launcher (scripts/setup.sh) passes them to `cr snapshot` only (they cost
// start-up); package.json's "cr" script and scripts/src/cr-cli.ts always pass them.
import { Command } from "commander";
import { TOOL_VERSION } from "@cr/core/names";
import { registerAttach } from "./commands/attach.js";
import { registerCheck } from "./commands/check.js";
import { registerInspect } from "./commands/inspect.js";
import { registerSnapshot } from "./commands/snapshot.js";
import { registerRestart } from "./commands/restart.js";
import { registerBranch } from "./commands/branch.js";
import { registerCoalesce } from "./commands/coalesce.js";
import { registerGc } from "./commands/gc.js";
import { registerLog } from "./commands/log.js";
import { registerRun } from "./commands/run.js";
import { registerVerify } from "./commands/verify.js";
import { registerExport } from "./commands/export.js";
import { registerImport } from "./commands/import.js";
import { reportError } from "./errors.js";

/**
 * Every command is defined here, but what it runs is imported only when it runs (each action
 * imports @cr/core itself): `cr --version` and `cr --help` load commander and nothing of cr's.
 */
export function buildProgram(): Command {
  const program = new Command("cr")
    .description("Incremental and branching checkpoint/restart for Linux processes.")
    .version(TOOL_VERSION, "-V, --version")
    // Usage errors are one line too, like every other error: "cr: WHAT (run `cr --help` for usage)".
    .configureOutput({ outputError: (text, write) => write(`cr: ${text.replace(/^error: /, "").trimEnd()} (run \`cr --help\` for usage)\n`) })
    .addHelpText(
      "after",
      `
Examples:
  cr check 1234                     what would stop a checkpoint of process 1234
  cr snapshot 1234                  a full image of process 1234; prints its CRID
  cr snapshot 1234 --incremental    only the pages written since the last image
  cr inspect 7                      decode the image of CRID 7
  cr restart --at 7                 restart CRID 7 where it stopped, under its old PID
  cr attach 4242                    the terminal of a program cr restart --detach put on a new one
  cr run -- ./sim input.dat         start a program detached, ready to checkpoint
  cr log --graph                    every branch's history
  cr branch what-if --from 7        a new branch at CRID 7 (hardlinks, no copy)
  cr coalesce --keep-last 5         drop older images; the oldest kept becomes full
  cr verify                         check every hash and every REF
  cr gc                             remove what no branch references
  cr export 7 | ssh host cr import -   CRID 7's chain into another machine's store

The store is --store DIR, else $CR_STORE, else ./.cr`,
    );
  registerCheck(program);
  registerSnapshot(program);
  registerRestart(program);
  registerAttach(program);
  registerInspect(program);
  registerRun(program);
  registerLog(program);
  registerVerify(program);
  registerBranch(program);
  registerCoalesce(program);
  registerGc(program);
  registerExport(program);
  registerImport(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

await main();

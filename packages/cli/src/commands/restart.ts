import { InvalidArgumentError, Option, type Command } from "commander";
import { parseCrid, storeOption } from "../args.js";
import { formatMs, toJson } from "../output.js";
import { progressBar } from "../progress.js";

interface RestartFlags {
  at: bigint;
  store?: string;
  branch?: string;
  detach?: boolean;
  json?: boolean;
  anyPid?: boolean;
  force?: boolean;
  keepFiles?: boolean;
  inheritFd: Map<number, string>;
  shellJob?: boolean;
}

export function registerRestart(program: Command): void {
  program
    .command("restart")
    .description("Restart a process from a checkpoint, exactly where it stopped, under its old PID.")
    .requiredOption("--at <crid>", "the checkpoint to restart", parseCrid)
    .addOption(storeOption())
    .option("--branch <name>", "branch to read the chain from (default: the one holding the CRID)")
    .option("--detach", "print the PID and return while the process runs")
    .option("--json", "with --detach: print pid, crid and restoreMs as JSON")
    .option("--any-pid", "if the PID is taken, run under any free PID (for programs that do not care)")
    .option("--force", "restart even if files the process reads changed since the checkpoint")
    .option("--keep-files", "leave output files that grew since the checkpoint as they are (default: cut back to their saved size, saying how much)")
    .option("--inherit-fd <fd:path>", "give descriptor FD the file PATH instead (repeatable)", parseInheritFd, new Map<number, string>())
    .addOption(new Option("--shell-job", "run a program that ran on a terminal on this one, as a job of your shell (in the foreground if it was)").conflicts("detach"))
    .addHelpText("after", "\nExamples:\n  cr restart --at 7\n  cr restart --at 7 --detach --json\n  cr restart --at 7 --inherit-fd 1:out.log\n  cr restart --at 7 --shell-job      # less, vim, top ... back on this terminal\n  cr restart --at 7 --detach         # ... or on a new one: cr attach PID")
    .action(async (flags: RestartFlags) => {
      const { restart, waitRestarted } = await import("@cr/core");
      const bar = progressBar("restart");
      const result = await restart({
        crid: flags.at,
        store: flags.store,
        branch: flags.branch,
        anyPid: flags.anyPid,
        force: flags.force,
        keepFiles: flags.keepFiles,
        inheritFds: flags.inheritFd,
        shellJob: flags.shellJob ?? false,
        detach: flags.detach ?? false,
        onProgress: bar.update,
      }).finally(() => bar.done());
      for (const warning of result.warnings) process.stderr.write(`cr: warning: ${warning}\n`);
      if (flags.json) console.log(toJson({ pid: result.pid, crid: result.crid, restoreMs: result.restoreMs }));
      else if (flags.detach) console.log(String(result.pid));
      if (result.onNewTerminal) process.stderr.write(`cr: ${result.pid} runs on a new terminal, as it ran on one: cr attach ${result.pid}\n`);
      else if (!result.job) process.stderr.write(`cr: restarted CRID ${result.crid} as PID ${result.pid} in ${formatMs(result.restoreMs)}\n`); // a job has the terminal's screen now
      if (flags.detach) return;
      // Without --detach cr stays the parent and exits as the process does.
      const status = waitRestarted(result.pid);
      result.job?.detach(); // the terminal back to cr's settings and group, as a shell takes it back
      process.exitCode = status.code ?? 128 + (status.signal ?? 0);
    });
}

function parseInheritFd(value: string, previous: Map<number, string>): Map<number, string> {
  const match = /^([0-9]+):(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`"${value}" is not FD:PATH`);
  return new Map(previous).set(Number(match[1]), match[2]!);
}

import type { Command } from "commander";
import type { TreeReport } from "@cr/core";
import { HANDED_OVER_HELP, TCP_CLOSE_HELP, TCP_ESTABLISHED_HELP, parseHandedOver, parsePid } from "../args.js";
import { table, toJson } from "../output.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("List every resource of a process and its descendants that would stop a checkpoint, with the reason. Touches nothing.")
    .argument("<pid>", "process id", parsePid)
    .option("--json", "print the report as JSON")
    .option("--inherit-fd <fd>", HANDED_OVER_HELP, parseHandedOver, new Set<number>())
    .option("--tcp-close", TCP_CLOSE_HELP)
    .option("--tcp-established", TCP_ESTABLISHED_HELP)
    .addHelpText("after", "\nExamples:\n  cr check 1234\n  cr check 1234 --inherit-fd 1\n  cr check 1234 --tcp-close")
    .action(async (pid: number, options: { json?: boolean; inheritFd: Set<number>; tcpClose?: boolean; tcpEstablished?: boolean }) => {
      const { checkProcess } = await import("@cr/core");
      const report = await checkProcess(pid, { handedOver: options.inheritFd, tcpClose: options.tcpClose ?? false, tcpEstablished: options.tcpEstablished ?? false });
      if (options.json) {
        console.log(toJson({ ...report, ok: report.problems.length === 0 }));
      } else if (report.problems.length === 0) {
        console.log(`${who(report)} can be checkpointed`);
      } else {
        console.log(`${who(report)} cannot be checkpointed:`);
        console.log(table(["RESOURCE", "KIND", "REASON"], report.problems.map((p) => [p.resource, p.kind, p.reason])));
      }
      if (!options.json && report.notes.length > 0) {
        console.log("notes (no problem: what a restart does):");
        console.log(table(["RESOURCE", "NOTE"], report.notes.map((n) => [n.resource, n.note])));
      }
      if (report.problems.length > 0) process.exitCode = 2;
    });
}

/** "process 12 (bash)", and "and its N descendants" when it has any. */
function who(report: TreeReport): string {
  const descendants = report.processes.length - 1;
  const tail = descendants === 0 ? "" : ` and its ${descendants} descendant${descendants === 1 ? "" : "s"}`;
  return `process ${report.pid} (${report.comm})${tail}`;
}

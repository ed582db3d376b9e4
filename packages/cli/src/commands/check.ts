import type { Command } from "commander";
import { parsePid } from "../args.js";
import { table, toJson } from "../output.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("List every resource of a process that would stop a checkpoint, with the reason. Touches nothing.")
    .argument("<pid>", "process id", parsePid)
    .option("--json", "print the report as JSON")
    .addHelpText("after", "\nExample:\n  cr check 1234")
    .action(async (pid: number, options: { json?: boolean }) => {
      const { checkProcess } = await import("@cr/core");
      const report = await checkProcess(pid);
      if (options.json) {
        console.log(toJson({ ...report, ok: report.problems.length === 0 }));
      } else if (report.problems.length === 0) {
        console.log(`process ${pid} (${report.comm}) can be checkpointed`);
      } else {
        console.log(`process ${pid} (${report.comm}) cannot be checkpointed:`);
        console.log(table(["RESOURCE", "KIND", "REASON"], report.problems.map((p) => [p.resource, p.kind, p.reason])));
      }
      if (report.problems.length > 0) process.exitCode = 2;
    });
}

import type { Command } from "commander";
import { storeOption } from "../args.js";
import { toJson } from "../output.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("Start a program detached, in its own session, ready to be checkpointed; print its PID. stdin is /dev/null, stdout/stderr go to files in the store.")
    .argument("<command>", "program to run")
    .argument("[args...]", "its arguments (put them after --)")
    .addOption(storeOption())
    .option("--json", "print the PID and output files as JSON")
    .addHelpText("after", "\nExample:\n  cr run -- python3 train.py --epochs 100\n  cr snapshot $(cr run -- ./sim) --interval 1s")
    .action(async (command: string, args: string[], options: { store?: string; json?: boolean }) => {
      const { runDetached, Store, storeDir } = await import("@cr/core");
      const store = Store.open(storeDir(options.store), { create: true });
      const result = await runDetached(store, command, args);
      if (options.json) console.log(toJson(result));
      else {
        process.stderr.write(`output: ${result.stdout}, ${result.stderr}\n`);
        console.log(String(result.pid));
      }
    });
}

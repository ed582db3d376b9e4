import { connect } from "node:net";
import type { Command } from "commander";
import { CrError } from "@cr/core/names";
import { parsePid } from "../args.js";

/** The key that leaves the program running and returns: Ctrl-] (as telnet's). */
const DETACH_KEY = 0x1d;

export function registerAttach(program: Command): void {
  program
    .command("attach")
    .description("Use the terminal of a program that `cr restart --detach` put on a new one; Ctrl-] leaves it running.")
    .argument("<pid>", "the restarted program's PID, as cr restart --detach printed it", parsePid)
    .addHelpText("after", "\nExamples:\n  cr restart --at 7 --detach    # prints 4242, and: cr attach 4242\n  cr attach 4242")
    .action(async (pid: number) => {
      await attach(pid);
    });
}

/**
 * Relays this terminal to the program's, through its terminal holder (the abstract socket
 * cr-terminal-PID; frames: 'd' u32 length, bytes; 'w' u16 rows, u16 cols), until the program
 * ends or Ctrl-] is typed. This terminal is raw meanwhile: every key goes to the program.
 */
async function attach(pid: number): Promise<void> {
  const socket = connect({ path: `\0cr-terminal-${pid}` });
  await new Promise<void>((resolve, reject) =>
    socket.once("connect", resolve).once("error", (error: NodeJS.ErrnoException) => {
      reject(new CrError(`no terminal of process ${pid} to attach to (${error.code}): is it a program cr restart --detach put on a new terminal, and does it still run?`, { code: error.code ?? "ENOENT", pid }));
    }),
  );
  const { stdin, stdout } = process;
  const size = () => {
    const frame = Buffer.alloc(5);
    frame.write("w", 0);
    frame.writeUInt16LE(stdout.rows ?? 24, 1);
    frame.writeUInt16LE(stdout.columns ?? 80, 3);
    socket.write(frame);
  };
  size();
  stdout.on("resize", size);
  if (stdin.isTTY) stdin.setRawMode(true);
  const ended = new Promise<void>((resolve) => socket.once("close", resolve));
  socket.pipe(stdout, { end: false });
  stdin.on("data", (keys: Buffer) => {
    const at = keys.indexOf(DETACH_KEY);
    if (at >= 0) keys = keys.subarray(0, at);
    if (keys.length > 0) {
      const header = Buffer.alloc(5);
      header.write("d", 0);
      header.writeUInt32LE(keys.length, 1);
      socket.write(Buffer.concat([header, keys]));
    }
    if (at >= 0) socket.end();
  });
  await ended;
  if (stdin.isTTY) stdin.setRawMode(false);
  stdin.pause();
}

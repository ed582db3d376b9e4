import { closeSync, readFileSync, writeSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createPipe, PIPE_DEFAULT_SIZE, pipeCapacity } from "@cr/native";
import { resizePipe } from "./pipes.js";

const CAP_SYS_RESOURCE = 24n;
const hasSysResource = (BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`) >> CAP_SYS_RESOURCE) & 1n;

describe("resizePipe", () => {
  let pipe: [number, number];
  afterEach(() => pipe.forEach((fd) => closeSync(fd)));

  it("gives a new pipe its saved capacity, and the default one when none was saved", () => {
    pipe = createPipe();
    resizePipe(pipe[1], 7n, [{ pipeId: 7n, size: 4 * PIPE_DEFAULT_SIZE }], "pipe:[7]");
    expect(pipeCapacity(pipe[0])).toBe(4 * PIPE_DEFAULT_SIZE);
    resizePipe(pipe[1], 8n, [{ pipeId: 7n, size: 4096 }], "pipe:[8]");
    expect(pipeCapacity(pipe[0])).toBe(PIPE_DEFAULT_SIZE);
  });

  it("fails with one line naming the pipe and why, for a capacity below its bytes", () => {
    pipe = createPipe();
    writeSync(pipe[1], Buffer.alloc(8192, 1));
    expect(() => resizePipe(pipe[1], 7n, [{ pipeId: 7n, size: 4096 }], "FIFO /tmp/f (fd 3)")).toThrow(
      /^FIFO \/tmp\/f \(fd 3\): its capacity of 4096 bytes cannot be set again \(F_SETPIPE_SZ\): it holds more bytes than that/,
    );
  });

  it.skipIf(hasSysResource)("fails with one line naming pipe-max-size for a capacity above it (without CAP_SYS_RESOURCE)", () => {
    pipe = createPipe();
    const max = Number(readFileSync("/proc/sys/fs/pipe-max-size", "utf8"));
    expect(() => resizePipe(pipe[1], 7n, [{ pipeId: 7n, size: 2 * max }], "pipe:[7]")).toThrow(
      `pipe:[7]: its capacity of ${2 * max} bytes cannot be set again (F_SETPIPE_SZ): it is above /proc/sys/fs/pipe-max-size (${max}), which only CAP_SYS_RESOURCE may exceed`,
    );
  });
});

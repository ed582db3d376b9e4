import { closeSync, readFileSync } from "node:fs";
import { createSignalfd, OPEN, SIGNALFD } from "@cr/native";
import { describe, expect, it } from "vitest";
import { parseSignalfd } from "./signalfds.js";

/** Bit N-1: signal N. */
const bit = (signal: number) => 1n << BigInt(signal - 1);

describe("signalfds", () => {
  it("are made with their mask, glibc's own signals and real-time ones included, and read back from fdinfo exactly", () => {
    const mask = bit(10) | bit(32) | bit(33) | bit(37) | bit(64);
    const fd = createSignalfd(mask, SIGNALFD.SFD_NONBLOCK);
    try {
      const fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      expect(parseSignalfd(process.pid, fd, fdinfo)).toEqual({ fd, mask });
      expect(parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo)![1]!, 8) & OPEN.O_NONBLOCK).toBe(OPEN.O_NONBLOCK);
    } finally {
      closeSync(fd);
    }
  });

  it("an fdinfo that is not a signalfd's is refused with one line", () => {
    expect(() => parseSignalfd(1, 3, "pos:\t0\nflags:\t02\n")).toThrow(/unexpected fdinfo of signalfd 3 of process 1/);
  });
});

import { closeSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createEventfd, EVENTFD, OPEN } from "@cr/native";
import { parseEventfd } from "./eventfds.js";

describe("eventfds", () => {
  it("are made with a counter beyond 32 bits and their mode, and read back from fdinfo exactly", () => {
    const fd = createEventfd(0x123456789an, EVENTFD.EFD_SEMAPHORE | EVENTFD.EFD_NONBLOCK);
    try {
      const fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      expect(parseEventfd(process.pid, fd, fdinfo)).toEqual({ fd, count: 0x123456789an, semaphore: 1 });
      expect(parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo)![1]!, 8) & OPEN.O_NONBLOCK).toBe(OPEN.O_NONBLOCK);
    } finally {
      closeSync(fd);
    }
  });

  it("an fdinfo that is not an eventfd's is refused with one line", () => {
    expect(() => parseEventfd(1, 3, "pos:\t0\nflags:\t02\n")).toThrow(/unexpected fdinfo of eventfd 3 of process 1/);
  });
});

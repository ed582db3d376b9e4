import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { readStat } from "../objects/task.js";
import { warmPageTables } from "./warmup.js";

let bin: string;
beforeAll(() => {
  bin = program("proc_target");
});
afterAll(() => cleanPrograms());

describe("warmPageTables", () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget(bin, ["clean"]);
  });
  afterAll(() => target.stop());

  it("stops and releases a target blocked in read(2), which goes back to sleep and reads on unharmed", async () => {
    expect(readStat(target.pid).state).toBe("S");
    const warmup = warmPageTables(target.pid);
    expect(warmup.stoppedMs).toBeGreaterThan(0);
    await warmup.settled();
    const stat = readStat(target.pid);
    expect(stat.state).toBe("S");
    expect(await target.ping()).toBe("pong"); // no EINTR reached fgets
  });

  it("leaves a running target alone", async () => {
    const busy = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(readStat(busy.pid!).state).toBe("R"); // running or runnable: it never sleeps
      const warmup = warmPageTables(busy.pid!);
      expect(warmup.stoppedMs).toBe(0);
      await warmup.settled();
      expect(readStat(busy.pid!).state).toBe("R");
    } finally {
      busy.kill("SIGKILL");
    }
  });
});

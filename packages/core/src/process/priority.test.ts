import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { yieldToTarget } from "./priority.js";

/** The nice value of each thread of this process (/proc/self/task/TID/stat, field 19). */
function niceOfThreads(): number[] {
  return readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

describe.skipIf(process.geteuid?.() !== 0)("cr's priority after the thaw", () => {
  it("is lowered by 10 in every thread, the thread pool's too, and put back as it was", async () => {
    await readFile("/proc/self/status"); // the thread pool runs
    const before = niceOfThreads();
    expect(new Set(before).size).toBe(1);
    const restore = yieldToTarget();
    expect(niceOfThreads()).toEqual(before.map((nice) => Math.min(19, nice + 10)));
    restore();
    expect(niceOfThreads()).toEqual(before);
  });
});

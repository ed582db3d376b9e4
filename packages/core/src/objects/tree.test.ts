import { describe, expect, it } from "vitest";
import { runningPids, type FrozenTree, type TreeProcess } from "./tree.js";
import type { ProcStat } from "./task.js";

const member = (pid: number, ppid: number, state = "t"): TreeProcess => ({ pid, ppid, comm: "x", stat: { state } as ProcStat });

describe("runningPids", () => {
  it("lists the running members in table order, not in the order a freeze found them", () => {
    // 4 was frozen first, then a later walk found 3, a child of 2 that 2 forked meanwhile.
    const tree: FrozenTree = {
      members: [member(1, 0), member(2, 1), member(4, 1), member(5, 2, "Z"), member(3, 2)],
      tids: new Map([[1, [1]], [2, [2]], [4, [4, 6]], [3, [3]]]),
      frozenAt: 0,
      exited: [],
    };
    expect(runningPids(tree)).toEqual([1, 2, 4, 3]);
  });
});

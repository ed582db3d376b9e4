import { describe, expect, it } from "vitest";
import { drawGraph, type GraphRow } from "./graph.js";

/** Rows of `ids`, newest first, each with the parent `parentOf` gives; the text is the id. */
const rows = (ids: number[], parentOf: (id: number) => number | null): GraphRow[] =>
  ids.map((id) => {
    const parent = parentOf(id);
    return { id: String(id), parent: parent === null ? null : String(parent), text: String(id) };
  });
const line = (first: number, last: number): GraphRow[] =>
  rows(
    Array.from({ length: first - last + 1 }, (_, i) => first - i),
    (id) => (id === last ? null : id - 1),
  );

describe("drawGraph", () => {
  it("ends a line at a row without parent: the branch below it starts in another column (main coalesced to 66..62, exp forked at 35)", () => {
    const rows = [...line(66, 62), ...line(35, 33).map((r) => (r.id === "33" ? { ...r, parent: "32" } : r))];
    expect(drawGraph(rows)).toEqual(["* 66", "* 65", "* 64", "* 63", "* 62", "  * 35", "  * 34", "  * 33"]);
  });

  it("draws a branch's own images down to its fork point, past a line that ended", () => {
    const exp = rows([12, 11], (id) => (id === 11 ? 5 : id - 1));
    expect(drawGraph([...exp, ...line(10, 8), ...line(5, 4)])).toEqual(["* 12", "* 11", "| * 10", "| * 9", "| * 8", "* 5", "* 4"]);
  });

  it("joins two branches forked at one point", () => {
    const forks = [...rows([9], () => 8), ...rows([8], () => 3), ...rows([7], () => 6), ...rows([6], () => 3)];
    expect(drawGraph([...forks, ...line(5, 1)])).toEqual(["* 9", "* 8", "| * 7", "| * 6", "| | * 5", "| | * 4", "| / /", "* 3", "* 2", "* 1"]);
  });

  it("keeps a line that ended long before free for the next one", () => {
    expect(drawGraph([...line(9, 9), ...rows([8], () => 1), ...line(7, 7), ...line(1, 1)])).toEqual(["* 9", "  * 8", "* | 7", "  * 1"]);
  });
});

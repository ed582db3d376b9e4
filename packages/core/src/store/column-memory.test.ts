import { describe, expect, it } from "vitest";
import { emptyColumns } from "@cr/format";
import { bufferOf, ColumnLoan } from "./column-memory.js";

const MIB = 1 << 20;
const ENTRIES = 100_000; // 3.7 MB of columns

describe("column loans", () => {
  it("lend the memory a loan gave back, zeroed, but never what the columns kept still use", () => {
    const first = new ColumnLoan();
    const kept = emptyColumns(ENTRIES, first.memory);
    const dropped = emptyColumns(ENTRIES, first.memory);
    kept.first.fill(7);
    dropped.first.fill(9);
    first.giveBack([kept]);
    const second = new ColumnLoan();
    const again = emptyColumns(ENTRIES, second.memory);
    expect(bufferOf(again)).toBe(bufferOf(dropped));
    expect(again.first.every((v) => v === 0), "zeroed").toBe(true);
    expect(kept.first.every((v) => v === 7), "the kept columns are untouched").toBe(true);
    expect(bufferOf(emptyColumns(ENTRIES, second.memory))).not.toBe(bufferOf(kept));
    second.giveBack();
  });

  it("lend small columns plain memory, and a large buffer only to columns of at least half its size", () => {
    const loan = new ColumnLoan();
    const large = emptyColumns(ENTRIES * 4, loan.memory);
    loan.giveBack();
    const next = new ColumnLoan();
    expect(bufferOf(emptyColumns(1000, next.memory)).byteLength).toBeLessThan(MIB);
    expect(bufferOf(emptyColumns(ENTRIES, next.memory))).not.toBe(bufferOf(large));
    expect(bufferOf(emptyColumns(ENTRIES * 3, next.memory))).toBe(bufferOf(large));
    next.giveBack();
  });
});

import { describe, expect, it } from "vitest";
import { REG, REGS_SIZE } from "@cr/native";
import { resumeRegisters } from "./threads.js";

function regs(fields: Partial<Record<keyof typeof REG, bigint>>): Buffer {
  const b = Buffer.alloc(REGS_SIZE);
  for (const [name, value] of Object.entries(fields)) b.writeBigInt64LE(value, REG[name as keyof typeof REG]);
  return b;
}

describe("resumeRegisters", () => {
  it("re-executes a syscall interrupted with -ERESTARTSYS", () => {
    const out = resumeRegisters(regs({ rip: 0x1002n, rax: -512n, orig_rax: 202n }));
    expect(out.readBigInt64LE(REG.rip)).toBe(0x1000n);
    expect(out.readBigInt64LE(REG.rax)).toBe(202n);
    expect(out.readBigInt64LE(REG.orig_rax)).toBe(-1n);
  });

  it("runs an interrupted sleep again from its arguments (-ERESTART_RESTARTBLOCK)", () => {
    const out = resumeRegisters(regs({ rip: 0x2002n, rax: -516n, orig_rax: 230n }));
    expect(out.readBigInt64LE(REG.rip)).toBe(0x2000n);
    expect(out.readBigInt64LE(REG.rax)).toBe(230n);
  });

  it("leaves a finished syscall's result and user code alone", () => {
    for (const r of [regs({ rip: 0x3002n, rax: -4n, orig_rax: 0n }), regs({ rip: 0x3000n, rax: 7n, orig_rax: -1n })]) {
      const out = resumeRegisters(r);
      expect(out.readBigInt64LE(REG.rip)).toBe(r.readBigInt64LE(REG.rip));
      expect(out.readBigInt64LE(REG.rax)).toBe(r.readBigInt64LE(REG.rax));
      expect(out.readBigInt64LE(REG.orig_rax)).toBe(-1n);
    }
  });
});

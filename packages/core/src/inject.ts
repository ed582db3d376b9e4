import { injectSyscall, readMemory, scratch } from "@cr/native";
import { CrError } from "./errors.js";

/** x86_64 syscall numbers cr injects. */
export const SYS = {
  rt_sigaction: 13,
  sigaltstack: 131,
  prctl: 157,
  getitimer: 36,
  brk: 12,
} as const;

const ERRNO_MAX = 4095n;

/**
 * Runs a syscall inside the frozen thread whose result is a struct the kernel writes to memory:
 * the struct lands in cr's scratch area of the target and is read back. `args` may use
 * `SCRATCH` to mean the scratch address.
 */
export function injectForStruct(pid: number, tid: number, name: keyof typeof SYS, args: (bigint | typeof SCRATCH)[], size: number): Buffer {
  const area = scratch(tid);
  const resolved = args.map((a) => (a === SCRATCH ? area.address : a));
  const ret = injectSyscall(tid, SYS[name], resolved);
  // A negative errno comes back as a huge unsigned value.
  const unsigned = BigInt.asUintN(64, ret);
  if (unsigned > BigInt.asUintN(64, -ERRNO_MAX)) {
    throw new CrError(`${name} injected into thread ${tid} failed with errno ${-Number(BigInt.asIntN(64, ret))}`, { code: "INJECT", pid });
  }
  const out = Buffer.alloc(size);
  readMemory(pid, new BigUint64Array([area.address, BigInt(size)]), out);
  return out;
}

export const SCRATCH = Symbol("scratch");

import { constants } from "node:os";
import { ERRNO, injectSyscall, readMemory, scratch, SYS, type SyscallName, writeMemory } from "@cr/native";
import { CrError } from "../errors.js";

const { MAX_ERRNO } = ERRNO;

/**
 * Runs a syscall inside the frozen thread whose result is a struct the kernel writes to memory:
 * the struct lands in cr's scratch area of the target and is read back. `args` may use
 * `SCRATCH` to mean the scratch address.
 */
export function injectForStruct(pid: number, tid: number, name: SyscallName, args: (bigint | typeof SCRATCH)[], size: number): Buffer {
  const area = scratch(tid);
  injectChecked(pid, tid, name, args.map((a) => (a === SCRATCH ? area.address : a)), name);
  const out = Buffer.alloc(size);
  readMemory(pid, new BigUint64Array([area.address, BigInt(size)]), out);
  return out;
}

export const SCRATCH = Symbol("scratch");

/** Runs a syscall inside the frozen thread `tid` of `pid` and returns its result; a negative errno throws, naming `what`. */
export function injectChecked(pid: number, tid: number, name: SyscallName, args: bigint[], what: string): bigint {
  const ret = BigInt.asIntN(64, injectSyscall(tid, SYS[name], args));
  if (ret < 0n && ret > -MAX_ERRNO) throw new CrError(`${what} injected into thread ${tid} of ${pid} failed with errno ${-ret}`, { code: "INJECT", pid });
  return ret;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** "ENOENT" for 2: how an injected syscall's failure is named in messages. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/**
 * One thread of a process being rebuilt (restart): runs syscalls in it and passes their
 * argument structs through the trampoline's scratch area. A failing syscall throws a CrError
 * naming what it was for.
 */
export class Remote {
  constructor(
    readonly pid: number,
    readonly tid: number,
  ) {}

  /** The raw result; a negative errno throws, unless `tolerate` lists it (then it is returned). */
  call(name: SyscallName, args: bigint[], what: string, tolerate: string[] = []): bigint {
    const ret = BigInt.asIntN(64, injectSyscall(this.tid, SYS[name], args));
    if (ret < 0n && ret > -MAX_ERRNO) {
      const code = errnoName(-Number(ret));
      if (tolerate.includes(code)) return ret;
      throw new CrError(`${what}: ${name} failed with ${code} in process ${this.pid}`, { code, pid: this.pid });
    }
    return ret;
  }

  /** Copies `data` to byte `at` of the scratch area (3840 bytes) and returns its address. */
  put(data: Buffer, at = 0): bigint {
    const area = scratch(this.tid);
    if (at + data.length > area.size) throw new RangeError(`scratch area of ${area.size} bytes: ${at + data.length} needed`);
    writeMemory(this.pid, area.address + BigInt(at), data);
    return area.address + BigInt(at);
  }

  /** A NUL-terminated path in the scratch area. */
  putString(text: string, at = 0): bigint {
    return this.put(Buffer.from(text + "\0"), at);
  }

  /** The same process, injecting in another of its threads. */
  thread(tid: number): Remote {
    return new Remote(this.pid, tid);
  }
}

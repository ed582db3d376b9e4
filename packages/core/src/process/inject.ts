import { constants } from "node:os";
import { ERRNO, injectQueries, injectSyscall, scratch, SYS, writeMemory, type Query, type QueryAnswer, type SyscallName } from "@cr/native";
import { CrError } from "../errors.js";

const { MAX_ERRNO } = ERRNO;

/** An argument standing for the address of the query's output, in cr's scratch area of the target. */
export const SCRATCH = Symbol("scratch");

/** One query's answer, once its Queries have run (they set `answer`). */
export class Answer {
  answer: QueryAnswer | null = null;

  constructor(
    private readonly queries: Queries,
    readonly what: string,
  ) {}

  /** The raw result: a negative errno on failure. */
  get raw(): bigint {
    if (!this.answer) throw new Error(`${this.what}: asked, not run`);
    return BigInt.asIntN(64, this.answer.result);
  }

  /** The result; a failure throws, naming what the query was for. */
  get result(): bigint {
    const ret = this.raw;
    if (ret < 0n && ret > -MAX_ERRNO) throw new CrError(`${this.what} injected into thread ${this.queries.tid} of ${this.queries.pid} failed with ${errnoName(-Number(ret))}`, { code: errnoName(-Number(ret)), pid: this.queries.pid });
    return ret;
  }

  /** What the syscall wrote at its SCRATCH argument; a failed one wrote nothing, and its failure throws. */
  get out(): Buffer {
    void this.result; // throws for a failed syscall
    return this.answer!.out;
  }
}

/**
 * Syscalls that only read the state of frozen thread `tid`, asked first and run together
 * (injectQueries): an injected syscall stops the thread twice, a run of queries once, and
 * those stops are most of what collecting a process's state costs inside the freeze.
 */
export class Queries {
  private readonly asked: { query: Query; answer: Answer }[] = [];

  constructor(
    readonly pid: number,
    readonly tid: number,
  ) {}

  /** `outSize` bytes of output go where the argument SCRATCH points. */
  ask(name: SyscallName, args: (bigint | typeof SCRATCH)[], what: string, outSize = 0): Answer {
    const out = args.indexOf(SCRATCH);
    const query: Query = { nr: SYS[name], args: args.map((a) => (a === SCRATCH ? 0n : a)), ...(out >= 0 ? { out: { arg: out, size: outSize } } : {}) };
    const answer = new Answer(this, what);
    this.asked.push({ query, answer });
    return answer;
  }

  run(): void {
    const answers = injectQueries(this.tid, this.asked.map((a) => a.query));
    this.asked.forEach((a, i) => (a.answer.answer = answers[i]!));
  }
}

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

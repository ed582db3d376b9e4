import { afterEach, describe, expect, it } from "vitest";

import { freeze, injectSyscall, seccompFilters, suspendSeccomp, thaw } from "./index.js";
import { killTargets, startTarget } from "./test-support/programs.js";

afterEach(killTargets);

const SYS_getppid = 110;
const EDOM = 33;
const LOG = 2; // SECCOMP_FILTER_FLAG_LOG

describe("seccomp", () => {
  it("reads a thread's filters oldest first, with their flags and programs", async () => {
    const target = await startTarget("seccomp");
    await target.waitFor(/^ready$/);
    const tids = freeze(target.pid);
    const filters = seccompFilters(tids[0]!);
    expect(filters.map((f) => f.flags)).toEqual([0, LOG]);
    for (const f of filters) {
      expect(f.program.length).toBe(4 * 8); // four struct sock_filter
      expect(f.program.readUInt32LE(2 * 8 + 4)).toBe(0x00050000 | EDOM); // the third returns ERRNO(EDOM)
    }
    thaw(tids);
  });

  it("lets injected syscalls pass the filters once suspended", async () => {
    const target = await startTarget("seccomp");
    await target.waitFor(/^ready$/);
    const tids = freeze(target.pid);
    expect(injectSyscall(tids[0]!, SYS_getppid)).toBe(BigInt(-EDOM));
    suspendSeccomp(tids[0]!);
    expect(injectSyscall(tids[0]!, SYS_getppid)).toBe(BigInt(process.pid));
    thaw(tids);
  });
});

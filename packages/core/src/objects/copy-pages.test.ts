import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeze, injectSyscall, PAGE_SIZE, thaw } from "@cr/native";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { CrError } from "../errors.js";
import { copyPages } from "./memory.js";

const SYS_MADVISE = 28;
const MADV_GUARD_INSTALL = 102n;

describe("copyPages on a page no one can read (a guard page)", () => {
  let dir: string;
  let target: Target;
  let anon: bigint;
  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-copy-")));
    const file = join(dir, "data.bin");
    writeFileSync(file, Buffer.alloc(3 * PAGE_SIZE, 0x61));
    target = await startTarget(program("proc_target"), ["state", dir, file]);
    anon = BigInt(`0x${target.ready.anon as string}`);
  });
  afterAll(async () => {
    await target.stop();
    cleanPrograms();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails naming the page, its mapping and what to do (it was a bare process_vm_readv EFAULT)", () => {
    const tids = freeze(target.pid);
    try {
      expect(injectSyscall(tids[0]!, SYS_MADVISE, [anon + BigInt(PAGE_SIZE), BigInt(PAGE_SIZE), MADV_GUARD_INSTALL])).toBe(0n);
      expect(copyPages(target.pid, [{ start: anon, pages: 1 }])[0]).toBe(1);
      let error: unknown;
      try {
        copyPages(target.pid, [{ start: anon, pages: 2 }]);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CrError);
      expect(error).toMatchObject({ code: "EFAULT", pid: target.pid });
      const page = (anon + BigInt(PAGE_SIZE)).toString(16);
      expect((error as Error).message).toMatch(new RegExp(`^cannot read page 0x${page} of process ${target.pid} \\(mapping ${anon.toString(16)}-[0-9a-f]+ rw-p .*\\): cr cannot save this memory; run cr check ${target.pid}`));
    } finally {
      thaw(tids);
    }
  });
});

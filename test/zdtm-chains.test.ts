// Every zdtm program cr restores (zdtm.test.ts), restarted from the middle of a chain of
// increments: it finds everything it set up exactly as it left it. (A file of its own: the two
// halves run side by side.)
import { afterAll, describe, expect, it } from "vitest";
import { snapshot } from "@cr/core";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";
import { restartAndCheck, restored, start, withPids } from "./zdtm-helpers.js";

afterAll(() => cleanupTmp());

describe("a restart from the middle of a chain of increments restores it", () => {
  it.each(restored)("$name: full + 3 increments, restart at the second", (program) => withPids(async (pids) => {
    const run = await start(program, pids);
    const store = tmpDir("cr-zdtm-store-");
    const crids: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const taken = await snapshot(run.pid, { store, incremental: i > 0 });
      if (program.warns) expect(taken.warnings.join("\n")).toMatch(program.warns);
      crids.push(taken.crid);
      await sleep(20);
    }
    run.child.kill("SIGKILL");
    await run.exited;
    await waitPidFree(run.pid);
    expect(await restartAndCheck(store, crids[1]!, run.out, pids)).toBe("PASS");
  }));
});

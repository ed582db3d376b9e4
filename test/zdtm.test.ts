// Every self-checking program of test/zdtm (protocol: test/zdtm/zdtm.h) through cr. Either
// `cr check` names what cr cannot restore (and `cr snapshot --kill` refuses, the program runs
// on), or the program survives `cr snapshot --kill` + `cr restart` (and a restart from the middle
// of a chain of increments: zdtm-chains.test.ts), and finds everything it set up exactly as it
// left it. What check accepts and restart cannot restore fails here.
import { describe, expect, it, afterAll } from "vitest";
import { checkProcess } from "@cr/core";
import { runCli } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";
import { all, restartAndCheck, start, withPids } from "./zdtm-helpers.js";

afterAll(() => cleanupTmp());

// Through the CLI only (the check reads): two programs at a time keep both cores busy.
describe.concurrent("cr check names it, or the restart restores it", () => {
  it.each(all)("$name: check + snapshot --kill + restart", (program) => withPids(async (pids) => {
    const run = await start(program, pids);
    const problems = (await checkProcess(run.pid)).problems;
    const store = tmpDir("cr-zdtm-store-");
    if (program.refused !== null) {
      expect(problems.map((p) => p.kind), `check accepted ${program.name}`).toContain(program.refused);
      const refused = await runCli(["snapshot", "--store", store, "--kill", String(run.pid)]);
      expect(refused.code, refused.stderr).not.toBe(0);
      expect(run.child.exitCode, "the refused program runs on").toBeNull();
      return;
    }
    expect(problems, "cr check must accept what restart restores").toEqual([]);
    const taken = await runCli(["snapshot", "--store", store, "--kill", String(run.pid)]);
    expect(taken.code, taken.stderr).toBe(0);
    if (program.warns) expect(taken.stderr).toMatch(new RegExp(`^cr: warning: .*${program.warns.source}`, "m"));
    await run.exited;
    await waitPidFree(run.pid);
    expect(await restartAndCheck(store, BigInt(taken.stdout.trim()), run.out, pids)).toBe("PASS");
  }));
});

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CrError } from "../errors.js";
import { collectFiles } from "../objects/files.js";
import { parseKeyValues, procError, readProcText } from "./procfs.js";
import { collectProcess } from "../objects/task.js";
import { collectVmas } from "../objects/vmas.js";

/** A pid that cannot exist: pids are always below pid_max. */
const nonexistent = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim());

function thrown(run: () => unknown): CrError {
  try {
    run();
  } catch (error) {
    if (error instanceof CrError) return error;
    throw error;
  }
  throw new Error("expected a CrError");
}

describe("procfs readers", () => {
  it("say 'no process N' (ESRCH) for a pid that does not exist, in every collector", () => {
    for (const collect of [collectProcess, collectVmas, collectFiles]) {
      const error = thrown(() => collect(nonexistent));
      expect(error.code).toBe("ESRCH");
      expect(error.message).toBe(`no process ${nonexistent}`);
      expect(error.pid).toBe(nonexistent);
    }
  });

  it("name the pid and the /proc path when the process exits while cr reads it", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid!;
    expect(readProcText(pid, "maps")).toContain("sleep");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const error = thrown(() => readProcText(pid, "maps"));
    expect(error).toMatchObject({ code: "ESRCH", pid, path: `/proc/${pid}/maps` });
    expect(error.message).toBe(`process ${pid} exited while cr was reading /proc/${pid}/maps`);
  });

  it("give advice that fits who cr runs as when permission is denied (root is not told to run as root)", () => {
    const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    const error = procError(1, "mem", denied);
    expect(error.code).toBe("EACCES");
    if (process.geteuid!() === 0) expect(error.message).toMatch(/permission denied \(cr runs as root: something else denies it/);
    else expect(error.message).toMatch(/permission denied \(cr needs to run as root or as the process's user\)/);
  });

  it("parse key: value files", () => {
    const values = parseKeyValues("Name:\tcat\nUmask:\t0022\nUid:\t0\t0\t0\t0\n");
    expect(values.get("Umask")).toBe("0022");
    expect(values.get("Uid")).toBe("0\t0\t0\t0");
  });
});

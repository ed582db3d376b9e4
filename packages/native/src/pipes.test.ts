import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

describe("closeOnExecFrom", () => {
  it("marks the descriptors from the first given on close-on-exec, those inherited without it too", () => {
    // fd 100 of a child Node: a stdio pipe, inherited without close-on-exec as a shell's would be
    // (Node itself marks only fds 0-15 and those right after them).
    const addon = createRequire(import.meta.url).resolve("../build/Release/cr_native.node");
    const script = `
      const O_CLOEXEC = 0o2000000; // as /proc/PID/fdinfo shows the flag
      const cloexec = () => (Number.parseInt(/^flags:\\s+(\\d+)$/m.exec(require("fs").readFileSync("/proc/self/fdinfo/100", "utf8"))[1], 8) & O_CLOEXEC) !== 0;
      const before = cloexec();
      require(${JSON.stringify(addon)}).closeOnExecFrom(3);
      console.log(JSON.stringify([before, cloexec()]));`;
    const stdio = ["ignore", "pipe", "inherit", ...Array<"ignore">(97).fill("ignore"), "pipe"] as const;
    const out = execFileSync(process.execPath, ["-e", script], { stdio: [...stdio], encoding: "utf8" });
    expect(JSON.parse(out)).toEqual([false, true]);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { collectFiles } from "./files.js";
import { collectPidfds, pidfdProblems } from "./pidfds.js";
import { killHolders, pythonHolder } from "./python.test-util.js";

afterEach(killHolders);

/** python3 with pidfds of a child it forked, of its parent (this process: outside its tree), and of a child it reaped. */
const holder = () =>
  pythonHolder(
    [
      "import os, signal, subprocess",
      "child = subprocess.Popen(['sleep', '60'])",
      "gone = subprocess.Popen(['true'])",
      "reaped = os.pidfd_open(gone.pid)",
      "gone.wait()",
      "fds = {'child': os.pidfd_open(child.pid, os.O_NONBLOCK), 'pid': child.pid, 'parent': os.pidfd_open(os.getppid()), 'reaped': reaped}",
      "fds['dup'] = os.dup(fds['child'])",
    ].join("\n"),
  );

describe("pidfds", () => {
  it("of the tree's processes are saved with the process they refer to; others are named by cr check", async () => {
    const { child, fds } = await holder();
    const pid = child.pid!;
    const members = new Set([pid, fds.pid!]);
    const files = collectFiles(pid);
    expect(files.find((f) => f.fd === fds.child)?.kind).toBe("pidfd");
    const problems = pidfdProblems(pid, files, members, new Set());
    expect(problems).toEqual([
      // In fd order: the reaped child's pidfd was opened first.
      { resource: `fd ${fds.reaped}`, kind: "pidfd", reason: expect.stringMatching(new RegExp(`^pidfd ${fds.reaped} refers to a process that has exited and was reaped`)) },
      { resource: `fd ${fds.parent}`, kind: "pidfd", reason: expect.stringMatching(new RegExp(`^pidfd ${fds.parent} refers to process ${process.pid}, which is not of the tree being saved`)) },
    ]);
    expect(() => collectPidfds(pid, files, [], members, new Set())).toThrow(/which is not of the tree being saved|exited and was reaped/);
    // Handed over, they are not saved; the dup shares the child's description (SHARED_FDS).
    const handedOver = new Set([fds.parent!, fds.reaped!]);
    expect(pidfdProblems(pid, files, members, handedOver)).toEqual([]);
    expect(collectPidfds(pid, files, [{ fd: fds.dup!, sameAs: fds.child! }], members, handedOver)).toEqual([{ fd: fds.child, pid: fds.pid }]);
  });
});

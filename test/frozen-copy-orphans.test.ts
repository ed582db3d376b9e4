// Where a frozen copy goes (docs/checkpoint.md, "Copy-on-write"): its go-between is reaped while
// the tree is frozen, and the copy, an orphan, goes to init or to a child subreaper above the
// process. A tree whose member is a child subreaper would take it in and hear of its death, so
// there the pages are copied: no member ever has a child the program did not make.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { snapshot, spawnWithPipes } from "@cr/core";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";

const MIB = 16;

/** python3 with 16 MiB written, which forks a child that keeps them; the parent a child subreaper if asked. */
const TREE = (subreaper: boolean) =>
  [
    "import ctypes, mmap, os, sys, time",
    subreaper ? "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER" : "",
    `m = mmap.mmap(-1, ${MIB} << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)`,
    `m.write(b'x' * (${MIB} << 20))`,
    "child = os.fork()",
    "if child == 0:",
    "    while True: time.sleep(1)",
    "print(child, flush=True)",
    "sys.stdin.read()",
  ].join("\n");

const stops: (() => void)[] = [];

afterEach(() => {
  stops.splice(0).forEach((stop) => stop());
  cleanupTmp();
});

async function startTree(subreaper: boolean): Promise<{ parent: number; child: number }> {
  const { child: proc, stdin, stdout } = await spawnWithPipes("python3", ["-c", TREE(subreaper)]);
  let out = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 500 && !out.includes("\n"); i++) await sleep(10);
  const child = Number(out.trim());
  stops.push(() => {
    process.kill(child, "SIGKILL");
    proc.kill("SIGKILL");
    stdin.destroy();
    stdout.destroy();
  });
  return { parent: proc.pid!, child };
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
}

describe("frozen copies are orphans the tree never sees", () => {
  it("a tree without a child subreaper: each member's pages are read from a frozen copy, and no member is left a child of cr's", async () => {
    const tree = await startTree(false);
    const result = await snapshot(tree.parent, { store: join(tmpDir(), "store"), incremental: false, securePages: "fork" });
    expect(result.frozenCopies, "both members forked").toBe(2);
    expect(childrenOf(tree.parent), "the parent has its own child only").toEqual([tree.child]);
    expect(childrenOf(tree.child)).toEqual([]);
  });

  it("a tree whose root is a child subreaper: its members' pages are copied, none forked", async () => {
    const tree = await startTree(true);
    const result = await snapshot(tree.parent, { store: join(tmpDir(), "store"), incremental: false, securePages: "fork" });
    expect(result.frozenCopies, "a copy would be an orphan of the root").toBe(0);
    expect(childrenOf(tree.parent)).toEqual([tree.child]);
  });
});

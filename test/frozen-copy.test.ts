// Frozen copies (docs/checkpoint.md, "Copy-on-write"). Where a copy goes: its go-between is
// reaped while the tree is frozen, and the copy, an orphan, goes to init or to a child subreaper
// above the process. A tree whose member is a child subreaper would take it in and hear of its
// death, so there the pages are copied: no member ever has a child the program did not make.
// What a copy tells: a member's memory planned after the thaw is planned from the copy's
// pagemap, which shows the freeze, whatever the process does meanwhile; the hashing tracker
// hashes the copy's pages then, and records their hashes, not those of the process run on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createInterface } from "node:readline";
import { snapshot, spawnWithPipes } from "@cr/core";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { PAGE, readCheckpointMemory } from "./image-pages.js";

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

/**
 * python3 running `script`, which prints the address of its memory first; `afterSignal(said)`
 * sends it SIGUSR1 and waits for it to print `said` (an onThawed: changes during the write-back).
 */
async function startPython(script: string) {
  const { child, stdin, stdout } = await spawnWithPipes("python3", ["-c", script]);
  stops.push(() => {
    child.kill("SIGKILL");
    stdin.destroy();
    stdout.destroy();
  });
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
  const afterSignal = (said: string) => async () => {
    child.kill("SIGUSR1");
    expect((await lines.next()).value, `the process ${said} its pages`).toBe(said);
  };
  return { pid: child.pid!, afterSignal, addr: BigInt((await lines.next()).value as string) };
}

const RO_PAGES = 8;

/**
 * python3 with 8 pages of read-only private memory, all 'r' (no tracker registers it: its
 * pagemap says which pages hold data); SIGUSR1 makes it writable and drops half of it, then
 * says "dropped".
 */
const READ_ONLY = [
  "import ctypes, mmap, signal, sys",
  "libc = ctypes.CDLL(None, use_errno=True)",
  `size = ${RO_PAGES} * mmap.PAGESIZE`,
  "m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)",
  "m.write(b'r' * size)",
  "addr = ctypes.addressof(ctypes.c_char.from_buffer(m))",
  "assert libc.mprotect(ctypes.c_void_p(addr), ctypes.c_size_t(size), mmap.PROT_READ) == 0",
  "def drop(signum, frame):",
  "    assert libc.mprotect(ctypes.c_void_p(addr), ctypes.c_size_t(size), mmap.PROT_READ | mmap.PROT_WRITE) == 0",
  "    assert libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(size // 2), 4) == 0  # MADV_DONTNEED",
  "    print('dropped', flush=True)",
  "signal.signal(signal.SIGUSR1, drop)",
  "print(addr, flush=True)",
  "sys.stdin.read()",
].join("\n");

describe("a frozen copy's pagemap", () => {
  it("plans the memory as it was at the freeze: pages the process drops while the image is written are saved", async () => {
    const { pid, afterSignal, addr } = await startPython(READ_ONLY);
    const store = join(tmpDir(), "store");
    const result = await snapshot(pid, { store, incremental: false, securePages: "fork", onThawed: afterSignal("dropped") });
    expect(result.frozenCopies).toBe(1);
    const memory = await readCheckpointMemory(store, result.crid);
    for (let p = 0; p < RO_PAGES; p++) {
      const page = memory.pages.get(addr + BigInt(p * PAGE));
      expect(page?.bytes.equals(Buffer.alloc(PAGE, "r")), `page ${p} as it was at the freeze`).toBe(true);
    }
  });
});

const REWRITTEN_PAGES = 64;

/** python3 with 64 private pages of 'a'; SIGUSR1 rewrites the first half with 'b', then says "rewritten". */
const REWRITER = [
  "import ctypes, mmap, signal, sys",
  `size = ${REWRITTEN_PAGES} * mmap.PAGESIZE`,
  "m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)",
  "m.write(b'a' * size)",
  "def rewrite(signum, frame):",
  "    m[0:size // 2] = b'b' * (size // 2)",
  "    print('rewritten', flush=True)",
  "signal.signal(signal.SIGUSR1, rewrite)",
  "print(ctypes.addressof(ctypes.c_char.from_buffer(m)), flush=True)",
  "sys.stdin.read()",
].join("\n");

describe("the hashing tracker with a frozen copy", () => {
  it("hashes the pages of the copy after the thaw: pages rewritten while the image is written are saved as they were, and by the next increment as they are", async () => {
    const { pid, afterSignal, addr } = await startPython(REWRITER);
    const store = join(tmpDir(), "store");
    await snapshot(pid, { store, incremental: false, tracker: "hashing" });
    const during = await snapshot(pid, { store, incremental: true, tracker: "hashing", securePages: "fork", onThawed: afterSignal("rewritten") });
    expect(during.frozenCopies).toBe(1);
    const after = await snapshot(pid, { store, incremental: true, tracker: "hashing" });
    const pageOf = async (crid: bigint, p: number) => (await readCheckpointMemory(store, crid)).pages.get(addr + BigInt(p * PAGE))?.bytes.toString("latin1", 0, 1);
    expect(await pageOf(during.crid, 0), "at the freeze").toBe("a");
    expect(await pageOf(after.crid, 0), "rewritten since").toBe("b");
    expect(await pageOf(after.crid, REWRITTEN_PAGES - 1), "never rewritten").toBe("a");
  });
});

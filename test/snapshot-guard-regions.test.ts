// Guard regions (MADV_GUARD_INSTALL) in a chain of increments: the write-protect tracker gives
// those of the pages it tracks (one installed or removed since the parent scans as written; the
// others are the parent's), the rest of the memory is scanned for them, and every image records
// exactly the guard regions the process had at its freeze: installed, removed, left alone, on
// pages the tracker leaves unarmed (hot pages), and in a mapping made since the parent.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { snapshot, spawnWithPipes } from "@cr/core";
import { probeKernel } from "@cr/native";
import { cleanupTmp, tmpDir } from "./harness.js";
import { ImageCache, PAGE } from "./image-pages.js";

// python3 holding two anonymous mappings of 64 pages (the second mapped on "map2", or shared on
// "shared"): "guard M P" and "unguard M P" install and remove a guard page, "fill M FIRST COUNT"
// writes pages not guarded.
const HOLDER = `
import ctypes, mmap, sys
PAGE = 4096
maps, guarded = {}, set()
def new(name, sharing=mmap.MAP_PRIVATE):
    maps[name] = mmap.mmap(-1, 64 * PAGE, flags=sharing | mmap.MAP_ANONYMOUS)
    maps[name].write(b"x" * 64 * PAGE)
    return ctypes.addressof(ctypes.c_char.from_buffer(maps[name]))
print(new("1"), flush=True)
for line in sys.stdin:
    op, *args = line.split()
    if op in ("map2", "shared"):
        print(new("2", mmap.MAP_SHARED if op == "shared" else mmap.MAP_PRIVATE), flush=True)
        continue
    m, first = maps[args[0]], int(args[1])
    if op == "guard":
        m.madvise(102, first * PAGE, PAGE); guarded.add((args[0], first))
    elif op == "unguard":
        m.madvise(103, first * PAGE, PAGE); guarded.discard((args[0], first))
    elif op == "fill":
        for p in range(first, first + int(args[2])):
            if (args[0], p) not in guarded: m[p * PAGE:(p + 1) * PAGE] = bytes([p % 251 + 1]) * PAGE
    print("ok", flush=True)
`;

const { available, reason } = probeKernel().guardScan;
const running: ChildProcess[] = [];
afterAll(() => {
  running.forEach((c) => c.kill("SIGKILL"));
  cleanupTmp();
});

/** The guard pages image `crid` records within the holder's mappings (by name, at `bases`), as "M:P". */
function guardPages(images: ImageCache, crid: bigint, bases: Map<string, bigint>): string[] {
  const attrs = images.open(crid).sections()[0]!.records("MEMORY_ATTRS")[0]!;
  return attrs.guards.flatMap(({ start, end }) => {
    const pages: string[] = [];
    for (let a = start; a < end; a += BigInt(PAGE)) {
      for (const [m, base] of bases) if (a >= base && a < base + 64n * BigInt(PAGE)) pages.push(`${m}:${(a - base) / BigInt(PAGE)}`);
    }
    return pages;
  });
}

async function startHolder() {
  const { child, stdin, stdout } = await spawnWithPipes("python3", ["-c", HOLDER]); // pipes, not sockets: they are saved
  running.push(child);
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
  const reply = async () => (await lines.next()).value as string;
  const say = async (command: string) => {
    stdin.write(`${command}\n`);
    return reply();
  };
  return { pid: child.pid!, say, bases: new Map([["1", BigInt(await reply())]]) };
}

describe.skipIf(!available)(`guard regions in a chain of increments${available ? "" : ` (${reason})`}`, () => {
  it("every image records the guard pages the process had at its freeze, tracked or not, unarmed or not", async () => {
    const store = join(tmpDir("cr-guards-"), "store");
    const holder = await startHolder();
    const images = new ImageCache(store);
    const take = async (incremental: boolean) => (await snapshot(holder.pid, { store, incremental, tracker: "write-protect" })).crid;
    const guardsOf = (crid: bigint) => guardPages(images, crid, holder.bases);

    await holder.say("guard 1 10");
    expect(guardsOf(await take(false)), "full").toEqual(["1:10"]);
    const steps: [commands: string[], expected: string[]][] = [
      [["guard 1 20"], ["1:10", "1:20"]], // installed on a tracked page
      [["unguard 1 10"], ["1:20"]], // removed
      [[], ["1:20"]], // left alone: the parent's
      [["guard 1 50"], ["1:20", "1:50"]], // on a page left unarmed (40-63 are written every round: hot)
      [["map2", "guard 2 3"], ["1:20", "1:50", "2:3"]], // in a mapping made since the parent
      [["unguard 1 50"], ["1:20", "2:3"]],
      [["guard 2 5"], ["1:20", "2:3", "2:5"]], // the new mapping tracked now
    ];
    for (const [round, [commands, expected]] of steps.entries()) {
      await holder.say("fill 1 40 24");
      for (const command of commands) {
        const reply = await holder.say(command);
        if (command === "map2") holder.bases.set("2", BigInt(reply));
      }
      expect(guardsOf(await take(true)).sort(), `round ${round + 1}: ${commands.join(", ") || "nothing"}`).toEqual(expected);
    }
    images.close();
  });

  it("in a shared mapping: refused in one line naming the mapping, and the process runs on", async () => {
    const store = join(tmpDir("cr-guards-shared-"), "store");
    const holder = await startHolder();
    const shared = BigInt(await holder.say("shared"));
    await holder.say("guard 2 7");
    const name = `${shared.toString(16)}-${(shared + 64n * BigInt(PAGE)).toString(16)}`;
    await expect(snapshot(holder.pid, { store, incremental: false })).rejects.toThrow(new RegExp(`mapping ${name}.*: a guard region \\(MADV_GUARD_INSTALL\\) in a shared mapping: cr saves those of private mappings only`));
    expect(await holder.say("fill 2 0 4"), "the process runs on").toBe("ok");
  });

  it("a history the tracker cannot trust (a snapshot into another store since): its pages are scanned for guard regions", async () => {
    const dir = tmpDir("cr-guards-untrusted-");
    const [store, other] = [join(dir, "store"), join(dir, "other")];
    const holder = await startHolder();
    const images = new ImageCache(store);
    await holder.say("guard 1 10");
    await snapshot(holder.pid, { store, incremental: false, tracker: "write-protect" });
    await snapshot(holder.pid, { store: other, incremental: false, tracker: "write-protect" }); // re-arms: the first store's history is broken
    await holder.say("guard 1 20");
    await holder.say("unguard 1 10");
    const result = await snapshot(holder.pid, { store, incremental: true, tracker: "write-protect" });
    expect(result.fullReason, "every page saved, the history not trusted").toBeDefined();
    expect(guardPages(images, result.crid, holder.bases)).toEqual(["1:20"]);
    images.close();
  });
});

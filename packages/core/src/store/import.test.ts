import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { PassThrough } from "node:stream";
import { StreamReader, StreamSource } from "@cr/format";
import { describe, expect, it } from "vitest";
import { planExport } from "./export.js";
import { importImages } from "./import.js";
import type { Store } from "./store.js";
import { storeMaker } from "./store.test-util.js";
import { memoryDigest, syntheticChain } from "../synthetic.js";
import { openImage } from "./store-images.js";
import { treeChain, treeIncrement } from "./tree.test-util.js";

const newStore = storeMaker("cr-import-");

/** `cr export CRID [--since]` of `store`, in memory. */
async function exported(store: Store, crid: bigint, since?: bigint): Promise<Buffer> {
  const plan = planExport(store, { crid, ...(since !== undefined ? { since } : {}) });
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on("data", (b: Buffer) => parts.push(Buffer.from(b))); // a copy: the writer reuses its buffer
  try {
    await plan.write(out);
  } finally {
    plan.close();
  }
  return Buffer.concat(parts);
}

async function imported(store: Store, stream: Buffer, branch?: string) {
  const source = new StreamSource({ path: "<test>", kind: "stream" }, (async function* () {
    yield stream;
  })());
  return importImages(store, await StreamReader.open(source), branch !== undefined ? { branch } : {});
}

const files = (store: Store) => store.branches.list().sort().join(" ");

describe("import of an exported chain", () => {
  it("keeps the CRIDs and every checkpoint's memory, moves the process's head, and hands out CRIDs after them", async () => {
    const from = newStore();
    const crids = await syntheticChain(from, { branch: "main", pages: 256, images: 4, dirtyPerImage: 30 });
    const to = newStore();
    expect((await imported(to, await exported(from, crids[1]!))).imported).toEqual(crids.slice(0, 2).map(String));
    expect((await imported(to, await exported(from, crids[3]!, crids[1]!))).imported).toEqual(crids.slice(2).map(String));
    for (const c of crids) expect(await memoryDigest(to, "main", c), `CRID ${c}`).toBe(await memoryDigest(from, "main", c));
    expect(to.branch("main").heads).toEqual({ "synthetic:1": String(crids[3]) });
    expect(to.nextCrid()).toBe(crids[3]! + 1n);
  });

  it("refuses an image damaged at its source, whose frames are whole, before anything of it is visible", async () => {
    const from = newStore();
    const crids = await syntheticChain(from, { branch: "main", pages: 64, images: 2, dirtyPerImage: 8 });
    // A byte of CRID 2's page data flipped in the file: the export frames it as it is.
    const image = openImage(from, "main", crids[1]!);
    const at = image.block(image.blocks()[0]!.offset).bodyOffset;
    image.close();
    const fd = openSync(from.imagePath("main", crids[1]!), "r+");
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
    closeSync(fd);
    const to = newStore();
    const before = files(to);
    await expect(imported(to, await exported(from, crids[1]!))).rejects.toThrow(/^image of stream <test> \(CRID 2\) at offset \d+: PAGES body hash mismatch/);
    expect(files(to)).toBe(before);
    expect(to.branch("main").entries).toEqual([]);
    expect(to.nextCrid()).toBe(1n);
  });
});

describe("import of process-tree images", () => {
  it("keeps every process's memory", async () => {
    const from = newStore();
    const crids = await treeChain(from, "main", [{ members: [{ pid: 100 }, { pid: 101 }] }, { members: [{ pid: 100, dirty: [3] }, { pid: 101, dirty: [4, 5] }, { pid: 102 }] }]);
    const to = newStore();
    expect((await imported(to, await exported(from, crids[1]!))).imported).toEqual(crids.map(String));
    for (const section of [0, 1, 2]) expect(await memoryDigest(to, "main", crids[1]!, section)).toBe(await memoryDigest(from, "main", crids[1]!, section));
  });

  it("refuses an image whose child's section REFs past a block of its parent", async () => {
    const from = newStore();
    const [full] = await treeChain(from, "main", [{ members: [{ pid: 100 }, { pid: 101 }] }]);
    const bad = await treeIncrement(from, full!, 1);
    const to = newStore();
    await expect(imported(to, await exported(from, bad))).rejects.toThrow(/\(past the end\)/);
    expect(to.branch("main").entries).toEqual([]);
  });
});

import { closeSync, createReadStream, openSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mixedPages, PS, sampleProcess, tmpDir } from "./image.test-util.js";
import { resolveSections } from "./chain.js";
import { readImageStream } from "./parse.js";
import { ImageReader } from "./reader.js";
import { MemberState, type ProcessTableRecord } from "./records.js";
import { ImageWriter } from "./writer.js";

const dir = tmpDir();
const table: ProcessTableRecord = {
  processes: [
    { pid: 100, ppid: 1, pgid: 100, sid: 100, startTime: 5n, state: MemberState.RUNNING, exitStatus: 0 },
    { pid: 101, ppid: 100, pgid: 100, sid: 100, startTime: 6n, state: MemberState.RUNNING, exitStatus: 0 },
    { pid: 102, ppid: 100, pgid: 100, sid: 100, startTime: 7n, state: MemberState.ZOMBIE, exitStatus: 3 << 8 },
  ],
};

/** A tree image: two running processes, each its own PROCESS record, one block and its page map. */
async function writeTree(path: string) {
  const fd = openSync(path, "w");
  const w = new ImageWriter(fd, { header: { crid: 1n, pageSize: PS }, processTable: table });
  for (const pid of [100, 101]) {
    await w.beginMember(pid);
    await w.writeRecord("PROCESS", { ...sampleProcess, pid });
    const vaddr = BigInt(pid) * 0x100000n;
    const block = await w.writePages(vaddr, mixedPages(2, pid));
    await w.writePageMap([{ source: "data", vaddr, pages: 2, block, firstPage: 0 }]);
  }
  const done = await w.finish();
  closeSync(fd);
  return done;
}

describe("tree images", () => {
  it("keep each process's records and page map in its own section", async () => {
    const path = join(dir, "tree.crimg");
    await writeTree(path);
    const r = ImageReader.open(path);
    expect(r.processTable()).toEqual(table);
    const sections = r.sections();
    expect(sections.map((s) => s.pid)).toEqual([100, 101]);
    expect(sections.map((s) => s.record("PROCESS")!.pid)).toEqual([100, 101]);
    expect(sections.map((s) => s.pageMap()[0]!.vaddr)).toEqual([100n * 0x100000n, 101n * 0x100000n]);
    expect(r.pageMap()).toEqual(sections[0]!.pageMap()); // the root's
    r.close();
  });

  it("refuse a MEMBER section out of the table's order: a reader finds a process's section by its place there", async () => {
    const fd = openSync(join(dir, "out-of-order.crimg"), "w");
    const w = new ImageWriter(fd, { header: { crid: 1n, pageSize: PS }, processTable: table });
    await expect(w.beginMember(101)).rejects.toThrow("MEMBER 101 where the process table has 100");
    closeSync(fd);
  });

  it("resolve one chain per section, in order", async () => {
    const path = join(dir, "resolve.crimg");
    await writeTree(path);
    const r = ImageReader.open(path);
    const chains = await resolveSections(1n, () => r);
    expect(chains.map((c) => c.map.first[0]! * PS)).toEqual([100 * 0x100000, 101 * 0x100000]);
    r.close();
  });

  it("are read whole from a stream, one page map per section", async () => {
    const path = join(dir, "stream.crimg");
    const { identity } = await writeTree(path);
    const kinds: string[] = [];
    for await (const ev of readImageStream(createReadStream(path))) kinds.push(ev.kind === "record" ? ev.type : ev.kind);
    expect(kinds).toEqual(["header", "references", "PROCESS_TABLE", "MEMBER", "PROCESS", "pages", "pageMap", "MEMBER", "PROCESS", "pages", "pageMap", "end"]);
    expect(ImageReader.open(path).identity).toBe(identity);
  });

  it("refuse a section without its page map, in the writer", async () => {
    const fd = openSync(join(dir, "bad.crimg"), "w");
    const w = new ImageWriter(fd, { header: { crid: 1n, pageSize: PS }, processTable: table });
    await w.beginMember(100);
    await expect(w.beginMember(101)).rejects.toThrow(/previous section's PAGE_MAP/);
    closeSync(fd);
  });

  it("an image of one process is one section", async () => {
    const path = join(dir, "one.crimg");
    const fd = openSync(path, "w");
    const w = new ImageWriter(fd, { header: { crid: 2n, pageSize: PS } });
    await w.writeRecord("PROCESS", sampleProcess);
    await w.writePageMap([]);
    await w.finish();
    closeSync(fd);
    const r = ImageReader.open(path);
    expect(r.processTable()).toBeUndefined();
    expect(r.sections().map((s) => s.pid)).toEqual([sampleProcess.pid]);
    const single = openSync(join(dir, "single.crimg"), "w");
    await expect(new ImageWriter(single, { header: { crid: 3n, pageSize: PS } }).beginMember(1)).rejects.toThrow(/without a process table/);
    closeSync(single);
  });
});

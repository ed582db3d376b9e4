import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.js";
import { xxh64 } from "./hash.js";
import { buildFullImage, mixedPages, PS, sampleProcess, tmpDir } from "./image.test-util.js";
import { type ImageEvent, readImageStream } from "./parse.js";
import { ImageReader } from "./reader.js";
import { RECORD_TYPE_NAMES } from "./records.js";
import { ImageWriter } from "./writer.js";

/** Page bytes compared by length + xxh64 (deep-equal of MiBs of bytes is slow). */
const digest = (d: Uint8Array) => `${d.length}:${xxh64(d)}`;

async function collect(events: AsyncIterable<ImageEvent>) {
  const records: Record<string, unknown[]> = {};
  const pages = new Map<number, string>();
  let header: unknown;
  let references: unknown;
  let map: unknown;
  let identity: bigint | undefined;
  for await (const ev of events) {
    if (ev.kind === "header") header = ev.header;
    else if (ev.kind === "references") references = ev.references;
    else if (ev.kind === "record") (records[ev.type] ??= []).push(ev.value);
    else if (ev.kind === "pages") pages.set(ev.offset, digest(ev.data));
    else if (ev.kind === "pageMap") map = ev.entries;
    else if (ev.kind === "end") identity = ev.identity;
  }
  return { header, references, records, pages, map, identity };
}

function fromFile(path: string) {
  const r = ImageReader.open(path);
  const records: Record<string, unknown[]> = {};
  for (const t of RECORD_TYPE_NAMES) {
    const v = r.records(t);
    if (v.length) records[t] = v;
  }
  const pages = new Map<number, string>();
  for (const b of r.blocks()) pages.set(b.offset, digest(r.readBlock(b.offset)));
  const out = { header: r.header, references: r.references, records, pages, map: r.pageMap(), identity: r.identity };
  r.close();
  return out;
}

describe("reading through a pipe", () => {
  const dir = tmpDir();

  it("gives the same records and pages as reading the file", async () => {
    const img = await buildFullImage(join(dir, "pipe.crimg"), { blocks: 6, blockPages: 100 });
    const cat = spawn("cat", [img.path], { stdio: ["ignore", "pipe", "inherit"] });
    const got = await collect(readImageStream(cat.stdout));
    expect(got).toEqual(fromFile(img.path));
    expect(got.identity).toBe(img.identity);
  });

  it("writes an image into a pipe and reads it on the other side, identical to the file written the same way", async () => {
    const data = mixedPages(300, 5);
    const write = async (w: ImageWriter) => {
      await w.writeRecord("PROCESS", sampleProcess);
      const a = await w.writePages(0x7f0000000000n, data.subarray(0, 200 * PS), "raw");
      const b = await w.writePages(0x7f0000000000n + BigInt(200 * PS), data.subarray(200 * PS), "lz4");
      await w.writePageMap([
        { vaddr: 0x7f0000000000n, pages: 200, source: "data", block: a, firstPage: 0 },
        { vaddr: 0x7f0000000000n + BigInt(200 * PS), pages: 100, source: "data", block: b, firstPage: 0 },
      ]);
      return w.finish();
    };
    const opts = { header: { crid: 9n, pageSize: PS, createdMs: 1n } };
    // A real OS pipe through a child process: writer -> cat's stdin, cat's stdout -> reader.
    const cat = spawn("cat", [], { stdio: ["pipe", "pipe", "inherit"] });
    const reading = collect(readImageStream(cat.stdout));
    const res = await write(new ImageWriter(cat.stdin, opts));
    cat.stdin.end();
    const got = await reading;
    expect(got.identity).toBe(res.identity);
    expect([...got.pages.values()]).toEqual([digest(data.subarray(0, 200 * PS)), digest(data.subarray(200 * PS))]);

    const { openSync, closeSync } = await import("node:fs");
    const p = join(dir, "same.crimg");
    const fd = openSync(p, "w");
    const res2 = await write(new ImageWriter(fd, opts));
    closeSync(fd);
    expect(res2.identity).toBe(res.identity);
    expect(got).toEqual(fromFile(p));
  });

  it("yields what came before a damaged spot, then a FormatError", async () => {
    const img = await buildFullImage(join(dir, "cut.crimg"), { blocks: 4, blockPages: 16 });
    const { readFileSync } = await import("node:fs");
    const bytes = readFileSync(img.path);
    const seen: string[] = [];
    async function* chunks() {
      yield bytes.subarray(0, bytes.length >> 1);
    }
    await expect(
      (async () => {
        for await (const ev of readImageStream(chunks())) seen.push(ev.kind);
      })(),
    ).rejects.toThrow(FormatError);
    expect(seen[0]).toBe("header");
    expect(seen).not.toContain("end");
  });
});

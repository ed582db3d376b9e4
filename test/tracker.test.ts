// Dirty tracking never under-reports (docs/design.md decision 6): for every tracker backend this
// kernel has, tracker_target is snapshotted once in full, then incrementally after each kind of
// change a tracker can miss — plain writes, writes by the kernel (read(2) into the buffer), writes
// by a second thread, MADV_DONTNEED, shared anonymous memory and a memfd (MADV_REMOVE too), mremap, munmap of part of a region, a new mapping, a
// MADV_DONTDUMP region, COW of a private file mapping, address reuse. After every increment the
// checkpoint's memory, resolved through the chain, must be exactly what the process held, and
// every page written since the parent must be DATA in the new image. Over-reporting (DATA pages
// beyond those written) is measured and printed, not asserted.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot, Store, type SnapshotResult } from "@cr/core";
import { runCli, spawnCli } from "./cli.js";
import { probeKernel } from "@cr/native";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir, type Fixture } from "./harness.js";
import { readCheckpointMemory, PAGE } from "./image-pages.js";
import { cmd, compareWithModel, expectNoMismatch, isZero, MemoryModel } from "./memory-model.js";
import { patternPages } from "./patterns.js";

type Backend = "write-protect" | "soft-dirty" | "hashing";

const kernel = probeKernel();
const availability: Record<Backend, { available: boolean; reason: string }> = {
  "write-protect": kernel.writeProtectScan,
  "soft-dirty": kernel.softDirty,
  hashing: { available: true, reason: "always available" },
};

interface Row {
  step: string;
  written: number;
  dirtyPages: number;
  imageData: number;
  extra: number;
  downtimeMs: number;
  fullReason?: string;
}
const tables = new Map<Backend, Row[]>();

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
  for (const [backend, rows] of tables) {
    console.log(`\nover-reporting, tracker ${backend} (DATA pages in each increment beyond the pages written):`);
    console.table(rows.map((r) => ({ ...r, downtimeMs: Number(r.downtimeMs.toFixed(2)) })));
  }
});

for (const backend of ["write-protect", "soft-dirty", "hashing"] as Backend[]) {
  const { available, reason } = availability[backend];
  if (!available) {
    describe(`tracker ${backend}`, () => {
      console.log(`tracker ${backend} skipped: ${reason}`);
      it.skip(`unavailable on this kernel: ${reason}`, () => {});
    });
    continue;
  }

  describe(`tracker ${backend} never under-reports`, () => {
    let t: Fixture;
    let store: string;
    let dir: string;
    let model: MemoryModel;
    let last: SnapshotResult | null = null;
    const rows: Row[] = [];
    tables.set(backend, rows);
    // 16 pages of a file to map privately, and 8 pages to read(2) into memory.
    let mappedFile: string;
    let mappedBytes: Buffer;
    let readFile: string;
    let readBytes: Buffer;

    beforeAll(async () => {
      dir = tmpDir(`cr-tracker-${backend}-`);
      store = join(dir, "store");
      mappedFile = join(dir, "mapped.bin");
      mappedBytes = patternPages(50, 0, 16);
      writeFileSync(mappedFile, mappedBytes);
      readFile = join(dir, "read.bin");
      readBytes = patternPages(77, 0, 8);
      writeFileSync(readFile, readBytes);
      t = await startFixture("tracker_target");
      await t.waitReady();
      model = new MemoryModel(t);
    });

    /**
     * Takes the next image and checks it against the model at the freeze; the rows feed the table.
     * `during` changes the memory once the target is thawed, while the image is written: those
     * changes belong to the next increment, and this image holds the pages as they were.
     */
    async function snapAndVerify(step: string, incremental = true, parentCrid?: bigint, during?: () => Promise<void>): Promise<SnapshotResult> {
      const atFreeze = model.frozen();
      const written = model.written;
      model.written = new Set();
      const result = await snapshot(t.pid, { store, incremental, tracker: backend, ...(during ? { securePages: "fork" as const, onThawed: during } : {}) });
      const previous = parentCrid !== undefined ? { crid: parentCrid } : last;
      last = result; // the next step's parent, whatever this step's checks find
      expect(result.tracker).toBe(backend);
      if (during) expect(result.frozenCopies, "the pages were read from a frozen copy").toBe(1);
      if (incremental) expect(result.parent, "an incremental snapshot names its parent").toBe(previous?.crid ?? null);
      const mem = await readCheckpointMemory(store, result.crid);
      expectNoMismatch(compareWithModel(mem, atFreeze), `${backend}, after ${step} (CRID ${result.crid})`);
      const missed = [...written].filter((a) => !mem.ownData.has(a));
      expect(
        missed.map((a) => `0x${a.toString(16)}`),
        `${backend}, after ${step}: pages written since CRID ${previous?.crid} that are not DATA in CRID ${result.crid}`,
      ).toEqual([]);
      // Still the process we think: its memory agrees with the model (it would not if cr had written into it).
      for (const r of atFreeze.regions) {
        if (r.file) continue;
        for (let p = 0; p < r.pages; p++) {
          const c = r.content[p];
          if (c instanceof Buffer) {
            const addr = r.addr + BigInt(p * PAGE);
            expect(mem.pages.get(addr)?.bytes.equals(c)).toBe(true);
          }
        }
      }
      rows.push({
        step,
        written: written.size,
        dirtyPages: result.dirtyPages,
        imageData: mem.ownData.size,
        extra: mem.ownData.size - written.size,
        downtimeMs: result.downtimeMs,
        ...(result.fullReason ? { fullReason: result.fullReason } : {}),
      });
      return result;
    }

    it("full image of the initial regions", async () => {
      for (let id = 0; id <= 5; id++) {
        const pages = [64, 32, 32, 32, 32, 48][id]!;
        await model.map(id, pages);
        await model.write(id, 0, pages, id + 1);
      }
      await model.map(6, 16);
      await model.write(6, 0, 16, 7);
      await model.dontdump(6);
      await model.mapFile(7, mappedFile, mappedBytes, join(dir, "dump7.bin"));
      await model.write(7, 3, 2, 8); // COW two pages of the file mapping
      await model.map(10, 16); // never touched
      await snapAndVerify("full", false);
    });

    it("plain writes by the main thread", async () => {
      await model.write(0, 5, 3, 11);
      await model.write(0, 40, 1, 12);
      await model.write(10, 2, 1, 13); // first touch of a page
      await snapAndVerify("write");
    });

    it("kernel writes: read(2) into the buffer", async () => {
      await model.kread(1, 4, 6, readFile, readBytes);
      await model.kread(10, 8, 2, readFile, readBytes); // into never-touched pages
      await snapAndVerify("kread");
    });

    it("writes by the second thread", async () => {
      await model.write(2, 10, 5, 14, "twrite");
      await model.write(2, 31, 1, 15, "twrite");
      await snapAndVerify("twrite");
    });

    it("MADV_DONTNEED: dropped pages are gone (zero)", async () => {
      await model.dontneed(3, 0, 8);
      await model.dontneed(3, 20, 4);
      await snapAndVerify("dontneed");
    });

    it("MADV_DONTNEED then a rewrite of some of the dropped pages", async () => {
      await model.write(3, 2, 2, 16);
      await model.dontneed(0, 0, 2);
      await snapAndVerify("dontneed+rewrite");
    });

    it("shared anonymous memory: written pages, and MADV_DONTNEED keeps their bytes", async () => {
      await model.map(11, 24, true);
      await model.write(11, 0, 12, 31);
      await snapAndVerify("shared: new");
      await model.write(11, 4, 3, 32);
      await model.dontneed(11, 0, 8); // out of the page tables, still in the object
      await snapAndVerify("shared: write+dontneed");
      await model.write(11, 20, 2, 33);
      await model.dontneed(11, 20, 2); // written, then no page table maps it
      await snapAndVerify("shared: written then dropped");
      await model.remove(11, 0, 2); // out of the object: a hole, which no scan reports
      await snapAndVerify("shared: removed");
    });

    it("a memfd mapped shared: written pages, MADV_DONTNEED keeps their bytes, MADV_REMOVE takes them", async () => {
      await model.map(12, 16, "memfd");
      await model.write(12, 0, 10, 34);
      await snapAndVerify("memfd: new");
      await model.write(12, 2, 3, 35);
      await model.dontneed(12, 0, 4);
      await snapAndVerify("memfd: write+dontneed");
      await model.remove(12, 3, 2);
      await snapAndVerify("memfd: removed");
    });

    it("mremap: the region moved (and grew); its old pages are gone", async () => {
      await model.mremap(4, 40);
      await snapAndVerify("mremap");
    });

    it("writes into a moved region", async () => {
      await model.write(4, 3, 1, 17);
      await model.write(4, 35, 2, 18); // the part mremap added
      await snapAndVerify("write moved");
    });

    it("munmap of part of a region", async () => {
      await model.munmap(5, 10, 10);
      await model.write(5, 30, 1, 19);
      await snapAndVerify("munmap");
    });

    it("a new mapping created between snapshots", async () => {
      await model.map(8, 24);
      await model.write(8, 0, 12, 20);
      await snapAndVerify("new mapping");
    });

    it("a MADV_DONTDUMP region written again: its new bytes saved like any others", async () => {
      await model.write(6, 0, 4, 21);
      await snapAndVerify("dontdump write");
    });

    it("COW of more pages of the private file mapping", async () => {
      await model.write(7, 8, 1, 22);
      await model.write(7, 3, 1, 23); // an already COW'd page, again
      await snapAndVerify("file COW");
    });

    it("address reuse: a region freed and a new one mapped (likely at the same address)", async () => {
      const old = model.regions.get(0)!.addr;
      await model.free(0);
      const r = await model.map(9, 64);
      await model.write(9, 0, 64, 24);
      console.log(`${backend}: new region at ${r.addr === old ? "the freed region's address" : "another address"}`);
      await snapAndVerify("free+map");
    });

    it("mremap into the hole of a freed region", async () => {
      // Free region 1 (32 pages) and move region 2 (32 pages): the kernel may reuse the hole.
      await model.free(1);
      await model.mremap(2, 32);
      await model.write(2, 0, 1, 25);
      await snapAndVerify("free+mremap");
    });

    it("a snapshot into another store in between (it re-arms the tracker) does not make the next increment miss pages", async () => {
      await model.write(3, 24, 2, 26);
      const other = await snapshot(t.pid, { store: join(dir, "other-store"), incremental: false, tracker: backend });
      expect(other.parent).toBeNull();
      await model.write(3, 28, 2, 27);
      await snapAndVerify("other store");
    });

    it("cr snapshot killed at random moments does not make the next increment miss pages", async () => {
      const args = ["snapshot", String(t.pid), "--incremental", "--tracker", backend, "--store", store, "--json"];
      const timed = await runCli(args);
      expect(timed.code, timed.stderr).toBe(0);
      const crid = BigInt(String((JSON.parse(timed.stdout) as { crid: string | number }).crid));
      const startup = Math.min((await runCli(["--version"])).ms, timed.ms);
      let parent = crid;
      model.written = new Set();
      for (let k = 0; k < 8; k++) {
        await model.write(5, 40 + (k % 8), 1, 100 + k);
        const child = spawnCli(args);
        const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
        await Promise.race([sleep(startup + Math.random() * (timed.ms - startup)), exited]);
        child.kill("SIGKILL");
        await exited;
        const head = Store.open(store, { create: false }).branch("main").entries.at(-1)!;
        if (BigInt(head.crid) !== parent) {
          // The killed run committed its image (it had finished): the writes so far are in it.
          parent = BigInt(head.crid);
          model.written = new Set();
        }
        await model.write(5, 47 - (k % 8), 1, 200 + k);
        await model.write(9, k, 1, 300 + k);
        await snapAndVerify(`killed cr #${k}`, true, parent);
        parent = last!.crid;
      }
    });

    it("pages written, dropped and moved while the image is written back are saved as they were at the freeze", async () => {
      await model.write(3, 30, 2, 40);
      // A mapping new at this snapshot: no tracker vouches for it, its pagemap says what it holds.
      await model.map(14, 8);
      await model.write(14, 0, 8, 45);
      await snapAndVerify("before a write-back", true, undefined, async () => {
        await model.dontneed(14, 0, 4);
        await model.munmap(14, 4, 4);
        await model.write(3, 30, 1, 41); // written at the freeze, written again
        await model.write(9, 10, 4, 42);
        await model.write(2, 3, 2, 43, "twrite");
        await model.kread(9, 20, 3, readFile, readBytes);
        await model.dontneed(9, 30, 2);
        await model.munmap(5, 0, 4);
        await model.mremap(8, 28);
        await model.map(13, 8);
        await model.write(13, 0, 8, 44);
      });
      await snapAndVerify("after a write-back");
    });

    it("a full image whose pages are dropped and unmapped while it is written back holds them as they were at the freeze", async () => {
      // Read-only memory: no tracker registers it, its pagemap says which pages hold data.
      await model.map(15, 8);
      await model.write(15, 0, 8, 46);
      await model.protect(15, "ro");
      await snapAndVerify("full, with a write-back", false, undefined, async () => {
        await model.dontneed(9, 40, 4);
        await model.munmap(13, 0, 2);
        await model.protect(15, "rw");
        await model.dontneed(15, 0, 4);
      });
    });

    it("nothing changed", async () => {
      await snapAndVerify("idle");
    });

    it("the fixture's memory is what the model says (the model the images were checked against)", async () => {
      for (const r of model.regions.values()) {
        for (let p = 0; p < r.pages; ) {
          if (r.content[p] === "gone") {
            p++;
            continue;
          }
          let q = p;
          while (q < r.pages && r.content[q] !== "gone") q++;
          const out = join(dir, `check-${r.id}-${p}.bin`);
          await cmd(t, `dump ${r.id} ${out} ${p} ${q - p}`);
          const bytes = readFileSync(out);
          for (let i = p; i < q; i++) {
            const c = r.content[i];
            const got = bytes.subarray((i - p) * PAGE, (i - p + 1) * PAGE);
            if (c instanceof Buffer) expect(got.equals(c), `region ${r.id} page ${i}`).toBe(true);
            else expect(isZero(got), `region ${r.id} page ${i} zero`).toBe(true);
          }
          p = q;
        }
      }
    });
  });
}

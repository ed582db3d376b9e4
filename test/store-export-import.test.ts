// Images that travel (issue 18): `cr export CRID - | cr import --store OTHER -` through a real
// pipe, for a full image and for an incremental chain shipped piece by piece with --since; the
// image restarted from OTHER runs to the same output as the uninterrupted run, as it does from
// the original store. A damaged byte anywhere in a stream, and an increment whose parent the
// store lacks, are refused in one line with the store unchanged. A branch directory copied with
// cp -a is a store of its own, read only. Real process, real pipes, the built CLI.
import { execFileSync } from "node:child_process";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryEntry } from "@cr/core";
import { expectOneLineError, runCli, runShell } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { restartAndWait, waitPidFree, type Run } from "./restart-helpers.js";
import { advance, copyStore, gatedReference, snap, startGated, storeTree, treeDiff, type Gated } from "./store-helpers.js";

/** gated_checksum: 2 MiB, 300 steps of 8 words; CRIDs 1 (full), 2 and 3 at steps 50, 100, 150. */
const MB = 2;
const STEPS = 300;
const WRITES = 8;
const EVERY = 50;

let dir: string;
/** The original store, and the one images travel to. */
let a: string;
let b: string;
let g: Gated;
let ref: Buffer;
let run: Run;

const image = (store: string, crid: number) => readFileSync(join(store, "branches", "main", `${crid}.crimg`));

async function log(store: string): Promise<HistoryEntry[]> {
  const result = await runCli(["log", "--store", store, "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as HistoryEntry[];
}

/**
 * Restarts CRID from `store` (the gate open to the end) and checks the program finishes as the
 * uninterrupted run did. Its stdout (where it said "at N" at each gate) is a fresh file: the saved
 * one was cut back by the previous restart.
 */
async function restartsToReference(store: string, crid: number): Promise<void> {
  const stdout = join(dir, "restarted.stdout");
  writeFileSync(stdout, "");
  const result = await restartAndWait(store, BigInt(crid), ["--inherit-fd", `1:${stdout}`]);
  expect(result.code, `restart of CRID ${crid} from ${store}: ${result.stderr}`).toBe(0);
  expect(readFileSync(run.out).toString(), `output of CRID ${crid} restarted from ${store}`).toBe(ref.toString());
  await waitPidFree(run.pid);
}

beforeAll(async () => {
  dir = tmpDir("cr-store-export-import-");
  a = join(dir, "a");
  b = join(dir, "b");
  ({ g, ref } = await gatedReference(dir, "gated", MB, STEPS, WRITES));
  const started = startGated(g, dir, "run");
  run = started.run;
  for (let i = 1; i <= 3; i++) {
    await advance(g.gate, started.stdout, i * EVERY);
    expect((await snap(["--store", a, "--incremental", String(run.pid)])).crid).toBe(String(i));
  }
  run.child.kill("SIGKILL");
  await run.exited;
  await waitPidFree(run.pid);
  truncateSync(g.gate, STEPS); // restarted, the program runs to its end
}, 30_000);

afterAll(() => cleanupTmp());

describe("cr export | cr import through a pipe", () => {
  it("carries a full image: the same file in the other store, which restarts to the uninterrupted run's output", async () => {
    const shipped = await runShell(`cr export --store ${a} 1 - | cr import --store ${b} -`);
    expect(shipped.code, shipped.stderr).toBe(0);
    expect(shipped.stdout).toMatch(/^imported CRID 1 into branch "main" of \S+\/b \(2\.\d+ MiB read\)$/m);
    expect(image(b, 1).equals(image(a, 1)), "1.crimg byte for byte").toBe(true);
    const entry = ({ head, ...e }: HistoryEntry) => e; // CRID 1 is b's newest, not a's
    expect((await log(b)).map(entry)).toEqual((await log(a)).filter((e) => e.crid === "1").map(entry));
    await restartsToReference(b, 1);
  }, 30_000);

  it("carries an incremental chain piece by piece with --since; an import run again changes nothing; --branch makes a branch", async () => {
    for (const [crid, since] of [[2, 1], [3, 2]]) {
      const shipped = await runShell(`cr export --store ${a} ${crid} --since ${since} | cr import --store ${b} --json`);
      expect(shipped.code, shipped.stderr).toBe(0);
      expect(JSON.parse(shipped.stdout)).toMatchObject({ branch: "main", imported: [String(crid)], skipped: [] });
    }
    expect(await log(b)).toEqual(await log(a));
    expect(readFileSync(join(b, "next-crid"), "utf8").trim(), "b hands out CRIDs after the imported ones").toBe("4");
    const verified = await runCli(["verify", "--store", b]);
    expect(verified.code, verified.stderr).toBe(0);

    const before = storeTree(b);
    const again = await runShell(`cr export --store ${a} 3 | cr import --store ${b} -`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(`nothing new for branch "main" of ${b}; CRIDs 1, 2, 3 already there`);
    expect(treeDiff(before, storeTree(b))).toEqual([]);

    // Into a branch that does not exist yet: made whole, holding the same images as main.
    const branched = await runShell(`cr export --store ${a} 3 | cr import --store ${b} --branch travelled -`);
    expect(branched.code, branched.stderr).toBe(0);
    const travelled = await runCli(["log", "--store", b, "--branch", "travelled", "--json"]);
    expect((JSON.parse(travelled.stdout) as HistoryEntry[]).map((e) => `${e.crid}:${e.identity}`)).toEqual((await log(a)).map((e) => `${e.crid}:${e.identity}`));

    await restartsToReference(a, 3);
    await restartsToReference(b, 3);
  }, 30_000);
});

describe("cr import refuses in one line, the store unchanged", () => {
  /** A store holding CRID 1 only, and the stream of 2 and 3 on top of it. */
  let base: string;
  let stream: Buffer;

  beforeAll(async () => {
    base = join(dir, "base");
    const full = await runShell(`cr export --store ${a} 1 | cr import --store ${base}`);
    expect(full.code, full.stderr).toBe(0);
    const file = join(dir, "2-3.crs");
    const exported = await runCli(["export", "--store", a, "3", file, "--since", "1"]);
    expect(exported.code, exported.stderr).toBe(0);
    stream = readFileSync(file);
  }, 30_000);

  let serial = 0;
  /** `cr import FILE` of `bytes` into a copy of `from`: one line matching `error`, nothing changed. */
  async function refused(bytes: Buffer, error: RegExp, from = base): Promise<void> {
    const store = copyStore(from, join(dir, `target-${serial}`));
    const file = join(dir, `damaged-${serial++}.crs`);
    writeFileSync(file, bytes);
    const before = storeTree(store);
    const result = await runCli(["import", "--store", store, file]);
    expectOneLineError(result, error);
    expect(result.stdout).toBe("");
    expect(treeDiff(before, storeTree(store)), "the store changed").toEqual([]);
  }

  const flipped = (at: number) => {
    const bytes = Buffer.from(stream);
    bytes[at]! ^= 0x01;
    return bytes;
  };
  const secondImage = () => stream.indexOf("CRIMG", stream.indexOf("CRIMG") + 1);

  it.each([
    ["the preamble's version", () => 9],
    ["the HEADER frame", () => 40],
    ["CRID 2's IMAGE frame (its processKey)", () => stream.indexOf(`${run.pid}:`)],
    ["CRID 3's bytes", () => secondImage() + 3000],
    ["the END frame", () => stream.length - 1],
  ])("a byte flipped in %s", async (_, at) => {
    await refused(flipped(at()), new RegExp(`^stream \\S+/damaged-\\d+\\.crs( \\(CRID [23]\\))? at offset \\d+: .*(hash mismatch|truncated)`));
  });

  it("a damaged stream on stdin, naming <stdin>", async () => {
    const store = copyStore(base, join(dir, "stdin-target"));
    const file = join(dir, "stdin-damaged.crs");
    writeFileSync(file, flipped(secondImage() + 100));
    const before = storeTree(store);
    expectOneLineError(await runShell(`cat ${file} | cr import --store ${store} -`), /^stream <stdin> \(CRID 3\) at offset \d+: DATA body hash mismatch/);
    expect(treeDiff(before, storeTree(store))).toEqual([]);
  });

  it("a CRID the store uses for another image, or handed out and holds no more", async () => {
    // a coalesced copy of a: CRID 3 is rewritten (another image of CRID 3), 1 and 2 are gone.
    const coalesced = copyStore(a, join(dir, "coalesced"));
    const result = await runCli(["coalesce", "--store", coalesced, "--upto", "3"]);
    expect(result.code, result.stderr).toBe(0);
    await refused(stream, /^stream \S+: CRID 2 was handed out by store \S+ \(its next CRID is 4\), which holds it on no branch/, coalesced);
    const file = join(dir, "3-only.crs");
    expect((await runCli(["export", "--store", a, "3", file, "--since", "2"])).code).toBe(0);
    await refused(readFileSync(file), /^stream \S+: CRID 3 is another image in store \S+ \(on branch "main", identity 0x[0-9a-f]{16}; the stream's has 0x[0-9a-f]{16}\): import into a store of its own$/, coalesced);
  });

  it("an increment whose parent the store lacks", async () => {
    const file = join(dir, "3.crs");
    const exported = await runCli(["export", "--store", a, "3", file, "--since", "2"]);
    expect(exported.code, exported.stderr).toBe(0);
    await refused(readFileSync(file), /^stream \S+: CRID 3 builds on CRID 2, which branch "main" of store \S+ lacks: import the images before it first/);
  });
});

describe("a branch directory copied with cp -a", () => {
  it("is a store of its one branch: log, inspect, verify and restart work; writing commands are refused", async () => {
    const copy = join(dir, "copy");
    execFileSync("cp", ["-a", join(a, "branches", "main"), copy]);
    const before = storeTree(copy);
    expect(await log(copy)).toEqual(await log(a));
    for (const args of [["verify"], ["inspect", "3"]]) {
      const result = await runCli([...args, "--store", copy]);
      expect(result.code, `cr ${args.join(" ")}: ${result.stderr}`).toBe(0);
    }
    await restartsToReference(copy, 3);
    for (const args of [["gc"], ["branch", "x", "--from", "1"], ["coalesce", "--keep-last", "1"]]) {
      expectOneLineError(await runCli([...args, "--store", copy]), /is a copy of branch "main" \(branch\.json and images, no cr-store\.json\): cr reads it but writes nothing there/);
    }
    expect(treeDiff(before, storeTree(copy)), "the copy changed").toEqual([]);
  }, 30_000);
});

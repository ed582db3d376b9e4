// Seeing what is inside an image: `cr inspect --json` of a two-thread process holding a file, a
// directory, a pipe and /dev/null lists both threads, every mapping and every descriptor as
// /proc showed them, with each mapping's pages by source adding up to the page map; an
// increment describes the same process from its own records; an image of a process tree lists
// each running process so, and its zombies. Real processes, the built CLI.

import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageDescription } from "@cr/core";
import { runCli } from "./cli.js";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir, type Fixture } from "./harness.js";

let dir: string;
let t: Fixture;
/** What /proc showed before the first snapshot (which adds cr's trampoline, never shown). */
let proc: { tids: number[]; maps: string[]; fds: Map<number, string> };

beforeAll(async () => {
  dir = tmpDir("cr-inspect-");
  t = await startFixture("resources_target", ["thread", "file", join(dir, "out.txt"), "dir", dir, "pipe", "devnull"]);
  await t.waitReady();
  const maps = readFileSync(`/proc/${t.pid}/maps`, "utf8").trim().split("\n");
  const fds = readdirSync(`/proc/${t.pid}/fd`).map(Number).sort((a, b) => a - b);
  proc = {
    tids: readdirSync(`/proc/${t.pid}/task`).map(Number).sort((a, b) => a - b),
    maps: maps.map((l) => l.split(/\s+/).slice(0, 2).join(" ")),
    fds: new Map(fds.map((fd) => [fd, readlinkSync(`/proc/${t.pid}/fd/${fd}`)])),
  };
});

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

async function inspect(store: string, crid: string): Promise<ImageDescription> {
  const r = await runCli(["inspect", "--store", store, crid, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ImageDescription;
}

async function snapshot(store: string, incremental: boolean): Promise<string> {
  const r = await runCli(["snapshot", "--store", store, ...(incremental ? ["--incremental"] : []), String(t.pid)]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** The description's mappings, threads and descriptors against what /proc showed. */
function expectProcess(d: ImageDescription): void {
  expect(proc.tids).toHaveLength(2);
  expect(d.threads.map((th) => th.tid).sort((a, b) => a - b)).toEqual(proc.tids);
  const address = (hex: string) => BigInt(hex).toString(16).padStart(8, "0");
  expect(d.mappings.map((m) => `${address(m.start)}-${address(m.end)} ${m.prot}`)).toEqual(proc.maps);
  expect(d.fds.map((f) => [f.fd, f.path])).toEqual([...proc.fds]);
  const kinds = Object.fromEntries(d.fds.map((f) => [f.path.replace(/:\[\d+\]$/, ""), f.kind]));
  expect(kinds).toMatchObject({ [join(dir, "out.txt")]: "regular", [dir]: "directory", pipe: "pipe", "/dev/null": "device" });
  expect(d.fds.find((f) => f.path === join(dir, "out.txt"))).toMatchObject({ access: "write", flags: ["append"], offset: 100 });
  // Every page of the map lies in a mapping: the per-mapping counts add up to the map's.
  for (const { source, pages } of d.pageMap) expect(d.mappings.reduce((n, m) => n + m.pages[source], 0), source).toBe(pages);
  const { pageData, pageMap, records, other } = d.sizes;
  expect(pageData + pageMap + records + other).toBe(d.bytes);
  expect(d.blocks.reduce((n, b) => n + b.bytes, 0)).toBe(pageData);
}

describe("cr inspect of a two-thread process", () => {
  it("--json lists both threads, every mapping and every fd, with pages by source; an increment shows its own records and REFs", async () => {
    const store = join(dir, "store");
    const full = await inspect(store, await snapshot(store, false));
    expectProcess(full);
    expect(full.pageMap.find((s) => s.source === "ref")).toBeUndefined();
    expect(full.mappings.find((m) => m.backing === "[stack]")?.pages.data).toBeGreaterThan(0);

    const increment = await inspect(store, await snapshot(store, true));
    expectProcess(increment);
    expect(increment.parent).toBe(full.crid);
    expect(increment.pageMap.find((s) => s.source === "ref")?.pages).toBeGreaterThan(0);

    // The text shows the same tables.
    const text = await runCli(["inspect", "--store", store, String(increment.crid)]);
    expect(text.code, text.stderr).toBe(0);
    for (const section of ["THREADS", "MAPPINGS", "FDS", "PAGES"]) expect(text.stdout).toMatch(new RegExp(`^${section}$`, "m"));
    for (const tid of proc.tids) expect(text.stdout).toMatch(new RegExp(`^ *${tid} `, "m"));
    expect(text.stdout).toMatch(/^codec +raw: \d+ block\(s\)/m);
  });
});

describe("cr inspect of a process tree", () => {
  it("--json lists every running process with its threads, mappings and fds, and the zombie; the text has a part per process", async () => {
    // sh's children, inherited by the sleep it becomes, which never reaps them: a sleep and a zombie that exited with 3.
    const shell = spawn("sh", ["-c", "sleep 1000 & (exit 3) & exec sleep 1000"], { stdio: "ignore", detached: true });
    const root = shell.pid!;
    try {
      await sleep(300);
      const store = join(dir, "tree");
      const r = await runCli(["snapshot", "--store", store, String(root)]);
      expect(r.code, r.stderr).toBe(0);
      const d = await inspect(store, r.stdout.trim());
      expect(d.processes.map((p) => p.process?.comm)).toEqual(["sleep", "sleep"]);
      expect(d.processes.map((p) => p.process?.ppid)).toEqual([d.process!.ppid, root]);
      for (const p of d.processes) expect([p.threads.length, p.mappings.length > 0, p.fds.length > 0]).toEqual([1, true, true]);
      expect(d.zombies).toMatchObject([{ ppid: root, exit: "exit code 3" }]);
      expect(d.process?.pid).toBe(root);
      const text = await runCli(["inspect", "--store", store, r.stdout.trim()]);
      expect(text.stdout.match(/^=== process \d+ \(\d of 2\) ===$/gm)).toHaveLength(2);
      expect(text.stdout).toMatch(/^ZOMBIES$/m);
    } finally {
      process.kill(-root, "SIGKILL");
    }
  });
});

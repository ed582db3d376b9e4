// For the core tests: chains of process-tree images written with the format writer, committed
// to a store as snapshots commit them, with page contents known in advance (no process needed);
// and a small real tree to snapshot.
import { spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { PAGE_SIZE } from "@cr/native";
import { derivePageMap, ImageWriter, MemberState, type PageMapEntry, referencedCrids, type Reference, type TableEntry } from "@cr/format";
import { processTree } from "../objects/tree.js";
import { commitImage, openImage } from "./store-images.js";
import type { Store } from "./store.js";

/** A running process of one image: which pages of its region it wrote since the parent image (ignored for a new one: saved whole). */
export interface TreeMember {
  pid: number;
  /** With pid, the incarnation (default: the pid): another start time is another process. */
  startTime?: bigint;
  dirty?: number[];
}

/** One image of the chain: its running processes, the root first, and its zombies. */
export interface TreeStep {
  members: TreeMember[];
  zombies?: { pid: number; exitStatus: number }[];
}

/** Pages of each process's one region, at regionOf(pid). */
export const TREE_PAGES = 40;

export function regionOf(pid: number): bigint {
  return 0x7f0000000000n + BigInt(pid) * 0x1000000n;
}

/** The bytes of page `index` of `pid` as image `crid` saved it. */
function fillPage(page: Buffer, crid: bigint, pid: number, index: number): void {
  page.write(`crid ${crid} pid ${pid} page ${index}`);
}

/** What the chain so far holds of each process: its map in the last image, by incarnation. */
interface Previous {
  crid: bigint;
  identities: Map<bigint, bigint>;
  maps: Map<string, PageMapEntry[]>;
}

const keyOf = (m: TreeMember) => `${m.pid}:${m.startTime ?? BigInt(m.pid)}`;

/** Writes one image per step, each incremental on the one before (the first full); returns the CRIDs. */
export async function treeChain(store: Store, branch: string, steps: TreeStep[]): Promise<bigint[]> {
  const crids: bigint[] = [];
  let previous: Previous | undefined;
  for (const step of steps) {
    const crid = store.allocateCrid();
    const fd = store.createImageFile(branch);
    try {
      const { identity, bytes, maps, dirty } = await writeTreeImage(fd, crid, step, previous);
      const root = step.members[0]!.pid;
      commitImage(store, branch, fd, { crid: String(crid), parent: previous ? String(previous.crid) : null, time: new Date().toISOString(), bytes, dirtyPages: dirty, downtimeMs: 0, totalMs: 0, tracker: "synthetic", pid: root, processKey: `tree:${root}` });
      previous = { crid, identities: new Map([...(previous?.identities ?? []), [crid, identity]]), maps };
      crids.push(crid);
    } finally {
      closeSync(fd);
    }
  }
  return crids;
}

async function writeTreeImage(fd: number, crid: bigint, step: TreeStep, previous: Previous | undefined) {
  const parents = step.members.map((m) => previous?.maps.get(keyOf(m)));
  const derive = (i: number, changes: PageMapEntry[]) => (parents[i] ? derivePageMap({ parent: parents[i], parentCrid: previous!.crid, pageSize: PAGE_SIZE, changes }) : changes);
  // REFERENCES come first: the REFs the maps will have do not depend on where the new blocks go.
  const referenced = new Set(step.members.flatMap((m, i) => referencedCrids(derive(i, dirtyOf(m, parents[i]).map((p) => ({ source: "zero", vaddr: regionOf(m.pid) + BigInt(p * PAGE_SIZE), pages: 1 }))))));
  const references: Reference[] = [...referenced].sort((a, b) => (a < b ? -1 : 1)).map((c) => ({ crid: c, identity: previous!.identities.get(c)! }));
  const writer = new ImageWriter(fd, { header: { crid, parentCrid: previous?.crid ?? 0n, parentIdentity: previous ? previous.identities.get(previous.crid)! : 0n, pageSize: PAGE_SIZE }, references, processTable: tableOf(step) });
  const maps = new Map<string, PageMapEntry[]>();
  let dirty = 0;
  for (const [i, m] of step.members.entries()) {
    await writer.beginMember(m.pid);
    await writer.writeRecord("TRACKER", { name: "synthetic", state: Buffer.from(`pid ${m.pid}`) });
    const pages = dirtyOf(m, parents[i]);
    const changes: PageMapEntry[] = [];
    for (const [first, count] of runsOf(pages)) {
      const data = Buffer.alloc(count * PAGE_SIZE);
      for (let p = 0; p < count; p++) fillPage(data.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE), crid, m.pid, first + p);
      const vaddr = regionOf(m.pid) + BigInt(first * PAGE_SIZE);
      changes.push({ source: "data", vaddr, pages: count, block: await writer.writePages(vaddr, data), firstPage: 0 });
    }
    const map = derive(i, changes);
    await writer.writePageMap(map);
    maps.set(keyOf(m), map);
    dirty += pages.length;
  }
  return { ...(await writer.finish()), maps, dirty };
}

/** Sorted page numbers as [first, count] runs: one block each. */
function runsOf(pages: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const p of [...pages].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[0] + last[1] === p) last[1]++;
    else runs.push([p, 1]);
  }
  return runs;
}

function dirtyOf(m: TreeMember, parent: PageMapEntry[] | undefined): number[] {
  return parent ? (m.dirty ?? []) : [...Array(TREE_PAGES).keys()];
}

function tableOf(step: TreeStep): { processes: TableEntry[] } {
  const root = step.members[0]!.pid;
  const entry = (pid: number, ppid: number) => ({ pid, ppid, pgid: root, sid: root, startTime: BigInt(pid), state: MemberState.RUNNING, exitStatus: 0 });
  return {
    processes: [
      ...step.members.map((m, i) => ({ ...entry(m.pid, i === 0 ? 1 : root), startTime: m.startTime ?? BigInt(m.pid) })),
      ...(step.zombies ?? []).map((z) => ({ ...entry(z.pid, root), state: MemberState.ZOMBIE, exitStatus: z.exitStatus })),
    ],
  };
}

/**
 * An increment of tree image `parent` (processes 100 and 101) whose sections REF the parent's
 * blocks for every page; in 101's section, `past` more pages than its block has.
 */
export async function treeIncrement(store: Store, parent: bigint, past: number): Promise<bigint> {
  const old = openImage(store, "main", parent);
  // Each section's first entry: the DATA of its one block (treeChain's full image).
  const blocks = old.sections().map((s) => {
    const first = s.pageMap()[0];
    if (first?.source !== "data") throw new Error(`section ${s.index} of CRID ${parent} does not start with DATA`);
    return first.block;
  });
  const crid = store.allocateCrid();
  const fd = store.createImageFile("main");
  try {
    const writer = new ImageWriter(fd, {
      header: { crid, parentCrid: parent, parentIdentity: old.identity, pageSize: PAGE_SIZE },
      references: [{ crid: parent, identity: old.identity }],
      processTable: old.processTable()!,
    });
    for (const [i, pid] of [100, 101].entries()) {
      await writer.beginMember(pid);
      const ref: PageMapEntry = { source: "ref", vaddr: regionOf(pid), pages: TREE_PAGES + (i === 1 ? past : 0), crid: parent, block: blocks[i]!, firstPage: 0 };
      await writer.writePageMap([ref]);
    }
    const { bytes } = await writer.finish();
    commitImage(store, "main", fd, { crid: String(crid), parent: String(parent), time: new Date().toISOString(), bytes, dirtyPages: 0, downtimeMs: 0, totalMs: 0, tracker: "synthetic", pid: 100, processKey: "tree:100" });
    return crid;
  } finally {
    closeSync(fd);
    old.close();
  }
}

/** `bash -c 'sleep 100 & sleep 100 & wait'` once both sleeps run: a tree of three; `stop` kills all of it. */
export async function sleepingTree(): Promise<{ pid: number; stop(): void }> {
  const shell = spawn("bash", ["-c", "sleep 100 & sleep 100 & wait"], { stdio: "ignore", detached: true });
  const pid = shell.pid!;
  const stop = () => process.kill(-pid, "SIGKILL");
  const deadline = Date.now() + 5_000;
  while (processTree(pid).filter((p) => p.stat.comm === "sleep").length < 2) {
    if (Date.now() > deadline) {
      stop();
      throw new Error(`bash ${pid} did not start its two sleeps`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { pid, stop };
}

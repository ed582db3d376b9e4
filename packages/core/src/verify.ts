import { ImageReader, resolveChain } from "@cr/format";
import { hexIdentity, type LogEntry, type Store } from "./store.js";

export interface VerifiedImage {
  branch: string;
  crid: string;
  bytes: number;
  ok: boolean;
  /** What is wrong, naming the file, the CRID and the offset. */
  problem?: string;
}

export interface VerifyOptions {
  /** Only this CRID (its whole chain), on every branch holding it unless `branch` is given. */
  crid?: bigint;
  branch?: string;
  /** Image bytes checked so far, of the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `cr verify`: for every image of the store (or of one CRID's chain): every hash of the file and
 * its identity (a full sequential pass), its HEADER CRID against its name, its identity against
 * the one branch.json recorded, its parent's identity, and every REF of its page map resolved
 * through the chain (target listed in REFERENCES, target identity, target PAGES block).
 */
export async function verifyStore(store: Store, options: VerifyOptions = {}): Promise<VerifiedImage[]> {
  const branches = options.branch !== undefined ? [options.branch] : options.crid !== undefined ? store.branchesWith(options.crid) : store.branchNames();
  if (options.crid !== undefined && options.branch !== undefined) store.entry(options.branch, options.crid); // a clear error for an unknown CRID
  if (options.crid !== undefined && branches.length === 0) store.entry("main", options.crid);
  const work: { branch: string; entry: LogEntry }[] = [];
  for (const branch of branches) {
    const meta = store.branch(branch);
    const wanted = options.crid === undefined ? null : chainCrids(meta.entries, String(options.crid));
    for (const entry of meta.entries) if (!wanted || wanted.has(entry.crid)) work.push({ branch, entry });
  }
  const total = work.reduce((n, w) => n + (w.entry.bytes ?? 0), 0);
  let done = 0;
  const results: VerifiedImage[] = [];
  for (const { branch, entry } of work) {
    const result: VerifiedImage = { branch, crid: entry.crid, bytes: entry.bytes, ok: true };
    try {
      await verifyOne(store, branch, entry);
    } catch (error) {
      result.ok = false;
      result.problem = error instanceof Error ? error.message : String(error);
    }
    results.push(result);
    done += entry.bytes ?? 0;
    options.onProgress?.(done, total);
  }
  return results;
}

/** The CRIDs of `crid`'s history on one branch: itself and its ancestors (REF targets are among them). */
function chainCrids(entries: LogEntry[], crid: string): Set<string> {
  const byCrid = new Map(entries.map((e) => [e.crid, e]));
  const out = new Set<string>();
  for (let c: string | null = crid; c !== null && byCrid.has(c) && !out.has(c); c = byCrid.get(c)!.parent) out.add(c);
  return out;
}

async function verifyOne(store: Store, branch: string, entry: LogEntry): Promise<void> {
  const readers = new Map<bigint, ImageReader>();
  const meta = store.branch(branch);
  const open = (crid: bigint) => {
    let r = readers.get(crid);
    if (!r) {
      const e = meta.entries.find((x) => x.crid === String(crid));
      r = e ? store.openRecorded(branch, e) : store.openImage(branch, crid);
      readers.set(crid, r);
    }
    return r;
  };
  try {
    const image = open(BigInt(entry.crid)); // HEADER CRID = name; identity = the recorded one
    const checked = await image.verify();
    if (checked.identity !== image.identity) throw new Error(`image ${image.path}: identity ${hexIdentity(checked.identity)} recomputed, footer says ${hexIdentity(image.identity)}`);
    const parent = image.header.parentCrid;
    if (parent !== 0n) {
      const p = open(parent);
      if (p.identity !== image.header.parentIdentity) {
        throw new Error(`image ${image.path}: parent CRID ${parent} has identity ${hexIdentity(p.identity)}, HEADER records ${hexIdentity(image.header.parentIdentity)}`);
      }
    }
    if ((entry.parent ?? "0") !== String(parent)) throw new Error(`branch "${branch}" records parent ${entry.parent} for CRID ${entry.crid}, its HEADER says ${parent}`);
    for await (const run of resolveChain(BigInt(entry.crid), open)) void run;
  } finally {
    for (const r of readers.values()) r.close();
  }
}

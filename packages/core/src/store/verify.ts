import { resolveSections, verifyImageFile } from "@cr/format";
import type { OnProgress } from "../progress.js";
import { hexIdentity, type LogEntry, type Store } from "./store.js";
import { imageCache, type ImageCache } from "./store-images.js";

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
  /** Image bytes checked so far, of the total, once per PAGES block. */
  onProgress?: OnProgress;
}

/**
 * `cr verify`: for every image of the store (or of one CRID's chain): every hash of the file and
 * its identity (a full sequential pass), its HEADER CRID against its name, its identity against
 * the one branch.json recorded, its parent's identity, and every REF of its page maps (one per
 * process of a tree image) resolved through the chain (target listed in REFERENCES, target identity, target PAGES block).
 */
export async function verifyStore(store: Store, options: VerifyOptions = {}): Promise<VerifiedImage[]> {
  const branches = options.branch !== undefined ? [options.branch] : options.crid !== undefined ? store.branchesWith(options.crid) : store.branchNames();
  if (options.crid !== undefined && options.branch !== undefined) store.entry(options.branch, options.crid); // a clear error for an unknown CRID
  if (options.crid !== undefined && branches.length === 0) store.entry("main", options.crid);
  const work: { branch: string; entry: LogEntry }[] = [];
  for (const branch of branches) {
    const meta = store.branch(branch);
    const wanted = options.crid === undefined ? null : new Set(chainEntries(meta.entries, String(options.crid)).map((e) => e.crid));
    for (const entry of meta.entries) if (!wanted || wanted.has(entry.crid)) work.push({ branch, entry });
  }
  const total = work.reduce((n, w) => n + (w.entry.bytes ?? 0), 0);
  let done = 0;
  const results: VerifiedImage[] = [];
  for (const { branch, entry } of work) {
    const onBytes = (bytes: number) => options.onProgress?.(done + bytes, total, "checking hashes");
    const { result: verified, problem } = await problemOf(() => verifyOne(store, branch, entry.crid, onBytes));
    if (problem !== undefined) results.push({ branch, crid: entry.crid, bytes: entry.bytes, ok: false, problem });
    else if (verified) results.push({ branch, crid: entry.crid, bytes: verified.bytes, ok: true });
    done += entry.bytes ?? 0;
    options.onProgress?.(done, total, "checking hashes");
  }
  return results;
}

/** What `cr inspect` checked of one image, and the first thing it found wrong. */
export interface ImageCheck {
  problem?: string;
  /** Whether its REFs were resolved: only through a store (an image given by CRID). */
  referencesChecked: boolean;
}

/** One image of the store, checked as verifyStore checks it: every hash, the identities, every REF resolved. */
export async function checkStoredImage(store: Store, branch: string, crid: bigint): Promise<ImageCheck> {
  const { problem } = await problemOf(() => verifyOne(store, branch, String(crid)));
  return { referencesChecked: true, ...(problem !== undefined ? { problem } : {}) };
}

/** An image file by itself: every hash and its identity (its REFs name images of a store). */
export async function checkImageFile(path: string): Promise<ImageCheck> {
  const { problem } = await problemOf(() => verifyImageFile(path));
  return { referencesChecked: false, ...(problem !== undefined ? { problem } : {}) };
}

/** A check's result, or what made it fail (the message names the file, CRID and offset). */
async function problemOf<T>(check: () => Promise<T>): Promise<{ result?: T; problem?: string }> {
  try {
    return { result: await check() };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/** The entries of `crid`'s history on one branch: itself and its ancestors (REF targets are among them). */
function chainEntries(entries: LogEntry[], crid: string): LogEntry[] {
  const byCrid = new Map(entries.map((e) => [e.crid, e]));
  const out = new Map<string, LogEntry>();
  for (let c: string | null = crid; c !== null && byCrid.has(c) && !out.has(c); c = byCrid.get(c)!.parent) out.set(c, byCrid.get(c)!);
  return [...out.values()];
}

/**
 * Verifies the image of `crid` on `branch` and returns its entry as verified (a coalesce may
 * have rewritten it since the work was listed), or null if a coalesce removed it. Its chain is
 * opened under the store's shared lock, so a coalesce cannot swap the branch's images between
 * reading branch.json and opening them; the open files stay readable (and are checked) after
 * one, without holding up other commands for the long read.
 */
async function verifyOne(store: Store, branch: string, crid: string, onBytes?: (bytes: number) => void): Promise<LogEntry | null> {
  const opened = store.withLock(() => openChain(store, branch, crid), "shared");
  if (!opened) return null;
  const { entry, images } = opened;
  const open = images.open;
  try {
    const image = open(BigInt(entry.crid)); // HEADER CRID = name; identity = the recorded one
    const checked = await image.verify(onBytes);
    if (checked.identity !== image.identity) throw new Error(`image ${image.path}: identity ${hexIdentity(checked.identity)} recomputed, footer says ${hexIdentity(image.identity)}`);
    const parent = image.header.parentCrid;
    if (parent !== 0n) {
      const p = open(parent);
      if (p.identity !== image.header.parentIdentity) {
        throw new Error(`image ${image.path}: parent CRID ${parent} has identity ${hexIdentity(p.identity)}, HEADER records ${hexIdentity(image.header.parentIdentity)}`);
      }
    }
    if ((entry.parent ?? "0") !== String(parent)) throw new Error(`branch "${branch}" records parent ${entry.parent} for CRID ${entry.crid}, its HEADER says ${parent}`);
    await resolveSections(BigInt(entry.crid), open); // a tree image: every process's map
    return entry;
  } finally {
    images.close();
  }
}

/** The entry of `crid`, with the images of its recorded history open, or null if it is gone. */
function openChain(store: Store, branch: string, crid: string): { entry: LogEntry; images: ImageCache } | null {
  const entries = store.branch(branch).entries;
  const chain = chainEntries(entries, crid);
  if (chain.length === 0) return null;
  const images = imageCache(store, branch, entries);
  try {
    for (const e of chain) images.open(BigInt(e.crid));
  } catch (error) {
    images.close();
    throw error;
  }
  return { entry: chain[0]!, images };
}

import { CrError } from "../errors.js";
import type { StoreDir } from "./store-fs.js";
import { checkBranchName, hexIdentity, writeBranchIn, type BranchMeta, type Store } from "./store.js";
import { imageCache, identityOf, type ImageCache } from "./store-images.js";

export interface BranchResult {
  name: string;
  from: string;
  source: string;
  /** CRIDs linked into the new branch (the chain of `from`). */
  linked: string[];
}

/**
 * `cr branch NAME --from CRID`: a new branch holding hardlinks to the images CRID needs (its
 * ancestors and every image its REFs point into); no page data is copied. The branch is built
 * under a staging name and renamed into place, so it appears complete or not at all.
 */
export function createBranch(store: Store, name: string, from: bigint, source?: string): BranchResult {
  checkBranchName(name);
  return store.withLock(() => {
    store.recoverIfNeeded();
    if (store.hasBranch(name)) throw new CrError(`branch "${name}" already exists in store ${store.dir}`, { code: "EEXIST", path: store.branchDir(name) });
    const src = source ?? sourceBranch(store, from);
    const meta = store.branch(src);
    const images = imageCache(store, src, meta.entries);
    let chain: Map<string, bigint>;
    try {
      chain = chainOf(meta, from, images);
    } finally {
      images.close();
    }
    const entries = meta.entries.filter((e) => chain.has(e.crid)).map((e) => ({ ...e, identity: hexIdentity(chain.get(e.crid)!) }));
    store.createBranchDir(name, (dir) => stage(store, src, dir, { name, from: String(from), created: new Date().toISOString(), entries, heads: {} }));
    return { name, from: String(from), source: src, linked: entries.map((e) => e.crid) };
  });
}

/** Fills the staged directory: a hardlink to each image of `meta` from branch `src`, then branch.json (which syncs the directory). */
function stage(store: Store, src: string, dir: StoreDir, meta: BranchMeta): void {
  store.inBranch(src, (source) => {
    for (const e of meta.entries) source.link(`${e.crid}.crimg`, dir);
  });
  writeBranchIn(dir, meta);
}

/** The branch to take CRID from: the only one holding it, or the one whose file every holder shares. */
function sourceBranch(store: Store, crid: bigint): string {
  const holders = store.branchesWith(crid);
  if (holders.length === 0) throw new CrError(`no CRID ${crid} in store ${store.dir}`, { code: "BAD_CRID", crid });
  const identities = new Set(holders.map((b) => identityOf(store, b, store.entry(b, crid))));
  if (identities.size > 1) {
    throw new CrError(`CRID ${crid} is a different image on branches ${holders.join(", ")} (one was coalesced); say which with --source BRANCH`, { code: "AMBIGUOUS", crid });
  }
  return holders.includes("main") ? "main" : holders[0]!;
}

/**
 * CRID -> identity of every image `crid` needs on branch `meta`: its ancestors and what its REFs
 * name, read through `images` (a cache of that branch, which keeps them open).
 */
export function chainOf(meta: BranchMeta, crid: bigint, images: ImageCache): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const listed = new Set(meta.entries.map((e) => e.crid));
  const visit = (c: string) => {
    if (out.has(c)) return;
    if (!listed.has(c)) throw new CrError(`CRID ${c}, needed by CRID ${crid}, is not on branch "${meta.name}"`, { code: "BAD_CRID", crid: BigInt(c) });
    const reader = images.open(BigInt(c));
    out.set(c, reader.identity);
    const needs = reader.references.map((r) => String(r.crid));
    if (reader.header.parentCrid !== 0n) needs.push(String(reader.header.parentCrid));
    for (const n of needs) visit(n);
  };
  visit(String(crid));
  return out;
}

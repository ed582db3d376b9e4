/**
 * The store's image files: opening one as its branch recorded it, and committing a new one.
 * Apart from store.ts (layout, lock, branch histories) so that what reads only histories (`cr
 * log`) loads no image reader.
 */
import { constants as fsc, fsyncSync } from "node:fs";
import { ImageReader, Lz4Error } from "@cr/format";
import { lz4Decompress, NativeError } from "@cr/native";
import { columnMemory } from "./column-memory.js";
import { DIRECT_MIN_BYTES } from "./direct-io.js";
import { CrError, errnoCode } from "../errors.js";
import { hexIdentity, type BranchMeta, type LogEntry, type Store } from "./store.js";
import type { StoreDir } from "./store-fs.js";

/**
 * LZ4 blocks decoded by the reference library (~7 GB/s here, the format package's TypeScript
 * decoder ~0.7), under its contract: a malformed block is an Lz4Error.
 */
export function decodeLz4(src: Uint8Array, dst: Uint8Array): void {
  try {
    lz4Decompress(src, dst);
  } catch (error) {
    if (error instanceof NativeError && error.code === "EINVAL") throw new Lz4Error(`a malformed block, or one that does not decode to its ${dst.length} bytes`, 0);
    throw error;
  }
}

/**
 * Opens the image of `crid` on `branch`; its HEADER must name that CRID. A large image is
 * read around the page cache, as it was written (direct-io.ts).
 */
export function openImage(store: Store, branch: string, crid: bigint): ImageReader {
  const path = store.imagePath(branch, crid);
  let fd: number;
  try {
    fd = store.inBranch(branch, (dir) => dir.openFile(`${crid}.crimg`, fsc.O_RDONLY));
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
    throw new CrError(`no image of CRID ${crid} on branch "${branch}" (${path})`, { code: "BAD_CRID", crid, path, cause: error });
  }
  const reader = ImageReader.fromFd(fd, path, { crid, columnMemory, decompress: decodeLz4 });
  if (reader.size >= DIRECT_MIN_BYTES) reader.readAroundCache();
  return reader;
}

/**
 * Opens the image of `entry` on `branch` and checks it is the file the branch recorded (its
 * identity, when branch.json has it): a hardlink replaced by another file is refused.
 */
export function openRecorded(store: Store, branch: string, entry: LogEntry): ImageReader {
  const reader = openImage(store, branch, BigInt(entry.crid));
  if (entry.identity !== undefined && hexIdentity(reader.identity) !== entry.identity) {
    reader.close();
    const path = store.imagePath(branch, BigInt(entry.crid));
    throw new CrError(`image ${path} is not the image branch "${branch}" recorded for CRID ${entry.crid} (identity ${hexIdentity(reader.identity)}, recorded ${entry.identity}): the file was replaced`, { code: "BAD_IMAGE", crid: BigInt(entry.crid), path });
  }
  return reader;
}

/** The identity of an entry's image: recorded, else read from its footer. */
export function identityOf(store: Store, branch: string, entry: LogEntry): bigint {
  if (entry.identity !== undefined) return BigInt(entry.identity);
  const reader = openImage(store, branch, BigInt(entry.crid));
  try {
    return reader.identity;
  } finally {
    reader.close();
  }
}

/**
 * Makes a fully written image part of the branch: fsync, link under its CRID, then record it
 * in the branch history. The image is durable before the history names it.
 */
export function commitImage(store: Store, branch: string, fd: number, entry: LogEntry): void {
  fsyncSync(fd);
  store.withLock(() => {
    store.recoverIfNeeded(); // a coalesce killed mid-swap since this snapshot started
    const meta = store.branch(branch);
    store.inBranch(branch, (dir) => addImage(store, meta, dir, fd, entry));
    meta.heads[entry.processKey] = entry.crid;
    delete meta.restarted?.[entry.processKey]; // the image's table names the tree's processes as they are now
    store.writeBranch(meta);
  });
}

/**
 * Under the lock: links the durable image in `fd` into `dir` (branch `meta`'s directory, or one
 * staged for it) as its CRID and appends `entry` to `meta`, once what the image builds on is
 * checked to be still there as it recorded it. The caller writes `meta` out.
 */
export function addImage(store: Store, meta: BranchMeta, dir: StoreDir, fd: number, entry: LogEntry): void {
  const identity = checkReferencesCurrent(store, meta, fd);
  dir.linkTmpfile(fd, `${entry.crid}.crimg`);
  meta.entries.push({ ...entry, identity: hexIdentity(identity) });
}

/**
 * An incremental image names its parent and referenced images by identity. A coalesce that
 * ran while it was written may have replaced them: refuse rather than commit a broken chain.
 */
function checkReferencesCurrent(store: Store, meta: BranchMeta, fd: number): bigint {
  const branch = meta.name;
  const image = ImageReader.open(`/proc/self/fd/${fd}`);
  try {
    const wanted = [...image.references];
    if (image.header.parentCrid !== 0n) wanted.push({ crid: image.header.parentCrid, identity: image.header.parentIdentity });
    for (const ref of wanted) {
      const entry = meta.entries.find((e) => e.crid === String(ref.crid));
      const current = entry ? identityOf(store, branch, entry) : undefined;
      if (current !== ref.identity) {
        throw new CrError(`CRID ${ref.crid}, which CRID ${image.header.crid} builds on, changed on branch "${branch}" while CRID ${image.header.crid} was written (a coalesce?); take the snapshot (or import) again`, { code: "STALE_PARENT", crid: ref.crid, path: store.branchDir(branch) });
      }
    }
    return image.identity;
  } finally {
    image.close();
  }
}

/** Readers by CRID, opened once each: a chain's data is spread over many images. */
export interface ImageCache {
  open(crid: bigint): ImageReader;
  close(): void;
}

/** An ImageCache of `branch`, whose history is `entries` (read now if not given). */
export function imageCache(store: Store, branch: string, entries: LogEntry[] = store.branch(branch).entries): ImageCache {
  const readers = new Map<bigint, ImageReader>();
  const listed = new Map(entries.map((e) => [e.crid, e]));
  return {
    open: (crid) => {
      let reader = readers.get(crid);
      if (reader) return reader;
      // A listed image must be the file the branch recorded (a replaced hardlink is refused).
      const entry = listed.get(String(crid));
      readers.set(crid, (reader = entry ? openRecorded(store, branch, entry) : openImage(store, branch, crid)));
      return reader;
    },
    close: () => readers.forEach((r) => r.close()),
  };
}

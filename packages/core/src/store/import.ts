import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { ImageReader, resolveSections, type StreamImage, type StreamReader } from "@cr/format";
import { CrError } from "../errors.js";
import { type StoreDir, systemError } from "./store-fs.js";
import { DEFAULT_BRANCH } from "../names.js";
import { type BranchMeta, checkBranchName, hexIdentity, type LogEntry, type Store, writeBranchIn } from "./store.js";
import { logEntry } from "./stream-entries.js";
import { imageCache, identityOf, addImage, decodeLz4, type ImageCache } from "./store-images.js";

export interface ImportOptions {
  /** The branch the images go to, made if missing (default: main). */
  branch?: string;
  /** Image bytes read from the stream, of the total it announced. */
  onProgress?: (done: number, total: number) => void;
}

export interface ImportResult {
  branch: string;
  /** CRIDs added to the branch, oldest first. */
  imported: string[];
  /** CRIDs the branch held already, as the same images (an import run again). */
  skipped: string[];
  /** Image bytes read from the stream. */
  bytes: number;
}

/**
 * `cr import`: adds the images of a stream written by `cr export` to a branch, under their own
 * CRIDs. Each image is received into an unnamed file of the store (O_TMPFILE) and checked
 * completely before it can become visible: every hash and its identity, its HEADER against what
 * the stream says of it, and everything it builds on (its parent and every image its REFs name,
 * with the identities it recorded; every REF resolved) found earlier in the stream or on the
 * branch. Only once the stream is read and checked to its END are the images linked and recorded,
 * under the store's lock: a refused stream or a killed import leaves the store as it was.
 */
export async function importImages(store: Store, stream: StreamReader, options: ImportOptions = {}): Promise<ImportResult> {
  const branch = options.branch ?? DEFAULT_BRANCH;
  checkBranchName(branch);
  const target = new Target(store, branch, stream.path);
  let done = 0;
  const progress = (n: number) => options.onProgress?.((done += n), stream.header.bytes);
  try {
    const skipped: string[] = [];
    for (let image = await stream.nextImage(); image !== undefined; image = await stream.nextImage()) {
      if (target.admit(image) === "held") {
        for (let data = await stream.nextData(); data !== undefined; data = await stream.nextData()) progress(data.byteLength); // checked by its hashes, and dropped
        skipped.push(String(image.crid));
        continue;
      }
      await target.check(await receive(store, stream, progress), image);
    }
    const imported = commit(store, branch, target.received, stream.path);
    return { branch, imported, skipped, bytes: done };
  } finally {
    target.close();
  }
}

/** An image of the stream in an unnamed file of the store (durable), checked, with its entry. */
interface Received {
  entry: LogEntry;
  fd: number;
  reader: ImageReader;
}

/** Who holds each CRID of the store (by branch, with the identity) and the next CRID it hands out. */
interface StoreState {
  holders: Map<string, { branch: string; identity: bigint }[]>;
  next: bigint;
}

function storeState(store: Store): StoreState {
  const holders: StoreState["holders"] = new Map();
  for (const name of store.branchNames()) {
    for (const e of store.branch(name).entries) {
      const list = holders.get(e.crid) ?? [];
      list.push({ branch: name, identity: identityOf(store, name, e) });
      holders.set(e.crid, list);
    }
  }
  return { holders, next: store.nextCrid() };
}

/** What an import builds on: the target branch as it was when the import started, and the images received since. */
class Target {
  readonly received: Received[] = [];
  private readonly receivedBy = new Map<bigint, ImageReader>();
  private readonly seen = new Set<bigint>();
  private readonly meta: BranchMeta | undefined;
  private readonly images: ImageCache | undefined;
  private readonly state: StoreState;

  constructor(
    private readonly store: Store,
    private readonly branch: string,
    private readonly streamPath: string,
  ) {
    this.meta = store.hasBranch(branch) ? store.branch(branch) : undefined;
    this.images = this.meta && imageCache(store, branch, this.meta.entries);
    this.state = storeState(store);
  }

  /** "held" if the branch has this very image already; refuses a CRID the store uses otherwise, and an image whose parent is missing. */
  admit(image: StreamImage): "new" | "held" {
    if (this.seen.has(image.crid)) throw this.refusal(`CRID ${image.crid} comes twice in the stream`, image.crid);
    this.seen.add(image.crid);
    const standing = admission(this.store, this.state, this.branch, image, this.streamPath);
    if (standing === "new" && image.parent !== 0n) this.find(image.crid, image.parent); // before its bytes are read
    return standing;
  }

  /** Checks the image received in `fd` (now the target's to close) as `image`; from now on later images may build on it. */
  async check(fd: number, image: StreamImage): Promise<void> {
    let reader: ImageReader;
    try {
      reader = ImageReader.fromFd(openSync(`/proc/self/fd/${fd}`, "r"), `of stream ${this.streamPath}`, { crid: image.crid, decompress: decodeLz4 });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.received.push({ entry: logEntry(image), fd, reader });
    await reader.verify(); // every hash, and the identity recomputed
    const crid = image.crid;
    if (reader.identity !== image.identity) throw this.refusal(`the image of CRID ${crid} has identity ${hexIdentity(reader.identity)}, its IMAGE frame says ${hexIdentity(image.identity)}`, crid);
    const { parentCrid, parentIdentity } = reader.header;
    if (parentCrid !== image.parent) throw this.refusal(`the image of CRID ${crid} has parent ${parentCrid} in its HEADER, its IMAGE frame says ${image.parent}`, crid);
    if (parentCrid !== 0n) this.find(crid, parentCrid, parentIdentity);
    for (const ref of reader.references) this.find(crid, ref.crid, ref.identity);
    this.receivedBy.set(crid, reader);
    await resolveSections(crid, (c) => this.receivedBy.get(c) ?? this.images!.open(c));
  }

  /** Refuses unless `crid`, which CRID `of` builds on, came earlier in the stream or is on the branch (with `identity`, when given). */
  private find(of: bigint, crid: bigint, identity?: bigint): void {
    const entry = this.meta?.entries.find((e) => e.crid === String(crid));
    const found = this.receivedBy.get(crid)?.identity ?? (entry && identityOf(this.store, this.branch, entry));
    if (found === undefined) {
      throw this.refusal(`CRID ${of} builds on CRID ${crid}, which branch "${this.branch}" of store ${this.store.dir} lacks: import the images before it first (cr export without --since, or --since a CRID this store has)`, of);
    }
    if (identity !== undefined && found !== identity) {
      throw this.refusal(`CRID ${of} builds on CRID ${crid} of identity ${hexIdentity(identity)}, but branch "${this.branch}" of store ${this.store.dir} holds another image of CRID ${crid} (identity ${hexIdentity(found)})`, of);
    }
  }

  private refusal(what: string, crid: bigint): CrError {
    return new CrError(`stream ${this.streamPath}: ${what}`, { code: "BAD_STREAM", crid });
  }

  close(): void {
    for (const r of this.received) {
      r.reader.close();
      closeSync(r.fd);
    }
    this.images?.close();
  }
}

/**
 * Whether the store can take `image` on `branch`: "held" when the branch has this very image,
 * "new" when no branch has another image of its CRID and the CRID is not one the store handed
 * out for an image of its own (one being written, or removed since): a CRID names one image.
 */
function admission(store: Store, state: StoreState, branch: string, image: Pick<StreamImage, "crid" | "identity">, streamPath: string): "new" | "held" {
  const refuse = (why: string) => new CrError(`stream ${streamPath}: CRID ${image.crid} ${why}`, { code: "CRID_TAKEN", crid: image.crid, path: store.dir });
  const holders = state.holders.get(String(image.crid)) ?? [];
  const here = holders.find((h) => h.branch === branch);
  if (here?.identity === image.identity) return "held";
  // Another branch may hold this very image (then it is new here); a coalesced branch holds another of the same CRID.
  const other = here ?? (holders.some((h) => h.identity === image.identity) ? undefined : holders[0]);
  if (other) {
    throw refuse(`is another image in store ${store.dir} (on branch "${other.branch}", identity ${hexIdentity(other.identity)}; the stream's has ${hexIdentity(image.identity)}): import into a store of its own`);
  }
  if (holders.length === 0 && image.crid < state.next) {
    throw refuse(`was handed out by store ${store.dir} (its next CRID is ${state.next}), which holds it on no branch (an image being written, or one removed since): it cannot name the stream's image there`);
  }
  return "new";
}

/** The current image's bytes into an unnamed file in the store's branches directory, made durable. */
async function receive(store: Store, stream: StreamReader, progress: (n: number) => void): Promise<number> {
  const dir = store.branches;
  const fd = dir.tmpfile();
  try {
    let at = 0;
    for (let data = await stream.nextData(); data !== undefined; data = await stream.nextData()) {
      writeAt(fd, data, at, dir.path);
      at += data.byteLength;
      progress(data.byteLength);
    }
    syncFile(fd, dir.path);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function writeAt(fd: number, data: Uint8Array, at: number, where: string): void {
  try {
    for (let n = 0; n < data.byteLength; ) n += writeSync(fd, data, n, data.byteLength - n, at + n);
  } catch (error) {
    throw systemError("write an image of the stream in", where, error);
  }
}

function syncFile(fd: number, where: string): void {
  try {
    fsyncSync(fd);
  } catch (error) {
    throw systemError("write an image of the stream in", where, error);
  }
}

/**
 * Under the lock, the store as it is now: what is new to the branch is linked and recorded (a
 * new branch made whole at once). next-crid moves past the new CRIDs first, so a crash after it
 * costs only unused CRIDs, never a CRID handed out twice.
 */
function commit(store: Store, branch: string, received: Received[], streamPath: string): string[] {
  return store.withLock(() => {
    store.recoverIfNeeded();
    const state = storeState(store);
    const fresh = received.filter((r) => admission(store, state, branch, { crid: r.reader.header.crid, identity: r.reader.identity }, streamPath) === "new");
    if (fresh.length === 0) return [];
    store.handOutAbove(fresh.reduce((max, r) => (r.reader.header.crid > max ? r.reader.header.crid : max), 0n));
    const exists = store.hasBranch(branch);
    const meta: BranchMeta = exists ? store.branch(branch) : { name: branch, from: null, created: new Date().toISOString(), entries: [], heads: {} };
    const add = (dir: StoreDir) => {
      for (const r of fresh) {
        addImage(store, meta, dir, r.fd, r.entry);
        continueHead(meta, r.entry);
      }
      writeBranchIn(dir, meta);
    };
    if (exists) store.inBranch(branch, add);
    else store.createBranchDir(branch, add);
    return fresh.map((r) => r.entry.crid);
  });
}

/**
 * The process's head moves to an imported image that continues it (no head yet, or the head is
 * its parent), so a `cr snapshot --incremental` of that process into this store goes on from it.
 */
function continueHead(meta: BranchMeta, entry: LogEntry): void {
  const head = meta.heads[entry.processKey];
  if (entry.processKey !== "" && (head === undefined || head === entry.parent)) meta.heads[entry.processKey] = entry.crid;
}

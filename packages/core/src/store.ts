import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeSync, constants as fsc } from "node:fs";
import { join, resolve } from "node:path";
import { ImageReader } from "@cr/format";
import { linkTmpfile, lockFile, openTmpfile } from "@cr/native";
import { CrError, errnoCode } from "./errors.js";

/**
 * The store: one directory holding branches of immutable images.
 *
 *   STORE/cr-store.json            marks the directory as a store (format version)
 *   STORE/lock                     flock'ed by every command that changes the store
 *   STORE/next-crid                the next CRID to hand out
 *   STORE/branches/NAME/branch.json  the branch's history (head, entries)
 *   STORE/branches/NAME/CRID.crimg   images (hardlinks shared between branches)
 *
 * Image files are created unnamed (O_TMPFILE) and linked into place only once complete and
 * fsynced, so a killed `cr` never leaves a partial image behind.
 */
export const STORE_FORMAT = 1;
export const DEFAULT_BRANCH = "main";
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** One checkpoint as the branch history records it. */
export interface LogEntry {
  crid: string;
  parent: string | null;
  time: string;
  bytes: number;
  dirtyPages: number;
  downtimeMs: number;
  totalMs: number;
  tracker: string;
  pid: number;
  /** Identifies one incarnation of a process (pid + start time), so the next snapshot finds its parent. */
  processKey: string;
}

export interface BranchMeta {
  name: string;
  /** CRID this branch was forked from, or null for a root branch. */
  from: string | null;
  created: string;
  entries: LogEntry[];
  /** processKey -> CRID: where the next incremental snapshot of that process continues. */
  heads: Record<string, string>;
}

export interface StoreOptions {
  /** Create the store (and the branch `main`) if missing. Read commands pass false. */
  create: boolean;
}

/** Where the store is: --store, else $CR_STORE, else ./.cr */
export function storeDir(option?: string): string {
  return resolve(option ?? process.env.CR_STORE ?? ".cr");
}

export class Store {
  private constructor(readonly dir: string) {}

  static open(dir: string, options: StoreOptions): Store {
    const store = new Store(dir);
    if (!exists(store.markerPath)) {
      if (!options.create) throw new CrError(`no cr store at ${dir} (run \`cr snapshot\` or pass --store)`, { code: "NO_STORE", path: dir });
      store.initialise();
    }
    store.checkOwnership();
    return store;
  }

  get markerPath(): string {
    return join(this.dir, "cr-store.json");
  }

  branchDir(name: string): string {
    return join(this.dir, "branches", name);
  }

  imagePath(branch: string, crid: bigint): string {
    return join(this.branchDir(branch), `${crid}.crimg`);
  }

  /** Opens the image of `crid` on `branch`; its HEADER must name that CRID. */
  openImage(branch: string, crid: bigint): ImageReader {
    const path = this.imagePath(branch, crid);
    try {
      return ImageReader.open(path, { crid });
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error;
      throw new CrError(`no image of CRID ${crid} on branch "${branch}" (${path})`, { code: "BAD_CRID", crid, path, cause: error });
    }
  }

  /** Runs `fn` holding the store's exclusive lock; concurrent commands wait for each other. */
  withLock<T>(fn: () => T): T {
    const fd = openSync(join(this.dir, "lock"), fsc.O_RDWR | fsc.O_CREAT, FILE_MODE);
    try {
      lockFile(fd, "exclusive");
      return fn();
    } finally {
      closeSync(fd); // closing releases the flock
    }
  }

  /** A new CRID, unique within the store even under concurrent `cr snapshot`s. */
  allocateCrid(): bigint {
    return this.withLock(() => {
      const path = join(this.dir, "next-crid");
      const text = readFileSync(path, "utf8").trim();
      if (!/^[1-9][0-9]*$/.test(text)) throw new CrError(`store file ${path} is damaged (holds "${text.slice(0, 40)}", expected a CRID)`, { code: "BAD_STORE", path });
      const crid = BigInt(text);
      writeFileAtomic(path, `${crid + 1n}\n`);
      return crid;
    });
  }

  branch(name: string): BranchMeta {
    const path = join(this.branchDir(name), "branch.json");
    if (!exists(path)) throw new CrError(`no branch "${name}" in store ${this.dir}`, { code: "NO_BRANCH", path });
    return readJson<BranchMeta>(path);
  }

  branchNames(): string[] {
    return readdirSync(join(this.dir, "branches")).filter((n) => exists(join(this.branchDir(n), "branch.json"))).sort();
  }

  /** Opens an unnamed file in the branch directory for a new image; it appears only on commit. */
  createImageFile(branch: string): number {
    this.branch(branch); // a clear error for an unknown branch before any work
    return openTmpfile(this.branchDir(branch), FILE_MODE);
  }

  /**
   * Makes a fully written image part of the branch: fsync, link under its CRID, then record it
   * in the branch history. The image is durable before the history names it.
   */
  commitImage(branch: string, fd: number, entry: LogEntry): void {
    fsyncSync(fd);
    this.withLock(() => {
      linkTmpfile(fd, this.imagePath(branch, BigInt(entry.crid)));
      const meta = this.branch(branch);
      meta.entries.push(entry);
      meta.heads[entry.processKey] = entry.crid;
      this.writeBranch(meta);
    });
  }

  writeBranch(meta: BranchMeta): void {
    mkdirSync(this.branchDir(meta.name), { recursive: true, mode: DIR_MODE });
    writeFileAtomic(join(this.branchDir(meta.name), "branch.json"), `${JSON.stringify(meta, null, 2)}\n`);
  }

  private initialise(): void {
    mkdirSync(join(this.dir, "branches"), { recursive: true, mode: DIR_MODE });
    writeFileAtomic(join(this.dir, "next-crid"), "1\n");
    this.writeBranch({ name: DEFAULT_BRANCH, from: null, created: new Date().toISOString(), entries: [], heads: {} });
    // The marker goes last: a store is complete once it exists.
    writeFileAtomic(this.markerPath, `${JSON.stringify({ format: STORE_FORMAT })}\n`);
  }

  /** Store files hold process memory: refuse a store another user could have planted. */
  private checkOwnership(): void {
    const st = statSync(this.dir);
    const uid = process.getuid?.() ?? 0;
    if (st.uid !== uid) throw new CrError(`store ${this.dir} is owned by uid ${st.uid}, not by you (uid ${uid})`, { code: "EPERM", path: this.dir });
    const marker = readJson<{ format?: unknown }>(this.markerPath);
    if (marker.format !== STORE_FORMAT) throw new CrError(`store ${this.dir} has format ${String(marker.format)}; this cr reads format ${STORE_FORMAT}`, { code: "BAD_STORE", path: this.markerPath });
  }
}

/** Write a small file so that readers see either the old or the new content, never a mix. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, FILE_MODE);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readJson<T>(path: string): T {
  const text = readFileSync(path, "utf8");
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CrError(`store file ${path} is damaged (not valid JSON)`, { code: "BAD_STORE", path, cause: error });
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

import { closeSync, fsyncSync, readFileSync, writeSync, constants as fsc } from "node:fs";
import { join, resolve } from "node:path";
import { lockFile } from "@cr/native";
import { CrError } from "../errors.js";
import { DEFAULT_BRANCH } from "../names.js";
import { StoreDir } from "./store-fs.js";

/**
 * The store: one directory holding branches of immutable images.
 *
 *   STORE/cr-store.json            marks the directory as a store (format version)
 *   STORE/lock                     flock'ed by every command that changes the store
 *   STORE/next-crid                the next CRID to hand out
 *   STORE/branches/NAME/branch.json  the branch's history (head, entries)
 *   STORE/branches/NAME/CRID.crimg   images (hardlinks shared between branches)
 *   STORE/branches/.NAME.new|.old    a coalesce in progress (see docs/store.md; recovered on open)
 *   STORE/runs/PID.stdout|stderr     output of programs started by `cr run`
 *
 * Image files are created unnamed (O_TMPFILE) and linked into place only once complete and
 * fsynced, so a killed `cr` never leaves a partial image behind. Every path is opened through
 * store-fs.ts: no symbolic link followed, nothing another user owns or can write accepted.
 *
 * A branch directory copied elsewhere (`cp -a STORE/branches/NAME COPY`: branch.json and images,
 * no cr-store.json) opens as a store of that one branch, which cr reads but never writes.
 */
export const STORE_FORMAT = 1;
/** Branch names: no path separators, no leading dot (dot names are the store's own). */
const BRANCH_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

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
  /** The image's identity (footer), hex; recorded at commit so a replaced file is noticed. */
  identity?: string;
}

export interface BranchMeta {
  name: string;
  /** CRID this branch was forked from, or null for a root branch. */
  from: string | null;
  created: string;
  entries: LogEntry[];
  /** processKey -> CRID: where the next incremental snapshot of that process continues. */
  heads: Record<string, string>;
  /**
   * processKey of a restarted tree's root -> (processKey of each other process the restart made
   * -> the one it had in the image): the restart gave them new start times, and their first
   * snapshot finds their sections of the parent image by these, and knows them restarted from it
   * (an empty map for a process alone). Gone once that snapshot commits.
   */
  restarted?: Record<string, Record<string, string>>;
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
  /**
   * The store's directory and its branches/, held open until close(). `copyOf`: the branch whose
   * copied directory this store is (then `root` and `branches` are that directory).
   */
  private constructor(
    readonly dir: string,
    readonly root: StoreDir,
    readonly branches: StoreDir,
    readonly copyOf?: string,
  ) {}

  static open(dir: string, options: StoreOptions): Store {
    const noStore = () => new CrError(`no cr store at ${dir} (run \`cr snapshot\` or pass --store)`, { code: "NO_STORE", path: dir });
    const root = StoreDir.openTop(dir, options.create);
    if (!root) throw noStore();
    try {
      if (!root.has(MARKER) && root.has(BRANCH_FILE)) return Store.openCopy(dir, root, options);
      if (!root.has(MARKER)) {
        if (!options.create) throw noStore();
        initialise(root);
      }
      checkFormat(root);
      const store = new Store(dir, root, root.dir("branches"));
      store.recoverIfNeeded();
      return store;
    } catch (error) {
      root.close();
      throw error;
    }
  }

  /** A copied branch directory (see above), named by its branch.json; writing commands are refused. */
  private static openCopy(dir: string, root: StoreDir, options: StoreOptions): Store {
    const path = join(dir, BRANCH_FILE);
    const name = parseJson<{ name?: unknown }>(root.readText(BRANCH_FILE), path).name;
    if (typeof name !== "string" || !BRANCH_NAME.test(name)) throw damaged(path, "names no valid branch");
    if (options.create) throw readOnlyCopy(dir, name);
    return new Store(dir, root, root, name);
  }

  /** The branch commands read when none is named: main, or a copied branch directory's own. */
  get defaultBranch(): string {
    return this.copyOf ?? DEFAULT_BRANCH;
  }

  /** Lets go of the store's directories: a long-lived caller (`cr snapshot --interval`) closes each store it opens. */
  close(): void {
    if (this.branches !== this.root) this.branches.close(); // one directory in a copied branch's store
    this.root.close();
  }

  branchDir(name: string): string {
    return this.copyOf !== undefined ? this.dir : join(this.dir, "branches", name);
  }

  imagePath(branch: string, crid: bigint): string {
    return join(this.branchDir(branch), `${crid}.crimg`);
  }

  /** Runs `fn` with branch `name`'s directory open. */
  inBranch<T>(name: string, fn: (dir: StoreDir) => T): T {
    return this.copyOf !== undefined ? fn(this.root) : this.branches.withDir(name, fn);
  }

  /** The branches whose history holds `crid`, in name order. */
  branchesWith(crid: bigint): string[] {
    const text = String(crid);
    return this.branchNames().filter((name) => this.branch(name).entries.some((e) => e.crid === text));
  }

  /** The branch to read `crid` from when none is named: main if it holds it, else the first that does. */
  branchFor(crid: bigint): string {
    const holders = this.branchesWith(crid);
    return holders.includes(DEFAULT_BRANCH) ? DEFAULT_BRANCH : (holders[0] ?? DEFAULT_BRANCH);
  }

  /** The branch a process incarnation continues (where it was snapshotted or restarted last), if any. */
  branchOf(processKey: string): string | undefined {
    let found: { name: string; crid: bigint } | undefined;
    for (const name of this.branchNames()) {
      const head = this.branch(name).heads[processKey];
      if (head !== undefined && (found === undefined || BigInt(head) > found.crid)) found = { name, crid: BigInt(head) };
    }
    return found?.name;
  }

  /** The entry of `crid` on `branch`, or a clear error. */
  entry(branch: string, crid: bigint): LogEntry {
    const found = this.branch(branch).entries.find((e) => e.crid === String(crid));
    if (!found) throw new CrError(`no CRID ${crid} on branch "${branch}" of store ${this.dir}`, { code: "BAD_CRID", crid, path: this.branchDir(branch) });
    return found;
  }

  /**
   * Runs `fn` holding the store's lock; concurrent commands wait for each other. "shared" is for
   * readers that must see the branches unchanged meanwhile (opening a chain's images).
   */
  withLock<T>(fn: () => T, mode: "exclusive" | "shared" = "exclusive"): T {
    if (this.copyOf !== undefined) return this.unlocked(fn, mode);
    if (this.lockDepth > 0) return this.nested(fn); // flock is per open file: a second open would deadlock
    const fd = this.openLock();
    try {
      lockFile(fd, mode);
      return this.nested(fn);
    } finally {
      closeSync(fd); // closing releases the flock
    }
  }

  /** withLock for async work (coalesce, restart opening a chain): held until the promise settles. */
  async withLockAsync<T>(fn: () => Promise<T>, mode: "exclusive" | "shared" = "exclusive"): Promise<T> {
    if (this.copyOf !== undefined) return this.unlocked(fn, mode);
    if (this.lockDepth > 0) return this.nestedAsync(fn);
    const fd = this.openLock();
    try {
      lockFile(fd, mode);
      return await this.nestedAsync(fn);
    } finally {
      closeSync(fd);
    }
  }

  private lockDepth = 0;

  /**
   * A copied branch directory has no lock: cr never writes to one, so readers need none, and
   * everything that would write (every exclusive lock) is refused here.
   */
  private unlocked<T>(fn: () => T, mode: "exclusive" | "shared"): T {
    if (mode === "exclusive") throw readOnlyCopy(this.dir, this.copyOf!);
    return fn();
  }

  /** Read-only: flock needs no more, and a store on a read-only file system can still be read. */
  private openLock(): number {
    return this.root.openFile("lock", fsc.O_RDONLY | fsc.O_CREAT);
  }

  private nested<T>(fn: () => T): T {
    this.lockDepth++;
    try {
      return fn();
    } finally {
      this.lockDepth--;
    }
  }

  private async nestedAsync<T>(fn: () => Promise<T>): Promise<T> {
    this.lockDepth++;
    try {
      return await fn();
    } finally {
      this.lockDepth--;
    }
  }

  /**
   * A new CRID, unique within the store even under concurrent `cr snapshot`s. The counter is
   * rewritten in place by one fixed-width write under the lock: no temporary file that a killed
   * `cr` could leave behind, and one write of 21 bytes is never torn.
   */
  allocateCrid(): bigint {
    return this.withLock(() => this.moveCounter((next) => next + 1n));
  }

  /** The CRID the store hands out next: every lower one was handed out (and may be in use). */
  nextCrid(): bigint {
    const fd = this.root.openFile("next-crid", fsc.O_RDONLY);
    try {
      return readCounter(fd, join(this.dir, "next-crid"));
    } finally {
      closeSync(fd);
    }
  }

  /** `cr import` keeps its images' CRIDs: from now on the store hands out only CRIDs above `crid`. */
  handOutAbove(crid: bigint): void {
    this.withLock(() => this.moveCounter((next) => (next > crid ? next : crid + 1n)));
  }

  /** Rewrites next-crid as `to` of its value (once, in place, fsynced); returns the value it had. */
  private moveCounter(to: (next: bigint) => bigint): bigint {
    const fd = this.root.openFile("next-crid", fsc.O_RDWR);
    try {
      const crid = readCounter(fd, join(this.dir, "next-crid"));
      const next = to(crid);
      if (next !== crid) {
        writeSync(fd, counterText(next), 0);
        fsyncSync(fd);
      }
      return crid;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Branch `name`'s branch.json, parsed once for each version of the file (a snapshot reads it
   * five times, and a long history makes it large). The entries are frozen and shared; the lists
   * and maps a caller may change are its own.
   */
  branch(name: string): BranchMeta {
    checkBranchName(name);
    const path = join(this.branchDir(name), BRANCH_FILE);
    if (!this.hasBranch(name)) throw new CrError(`no branch "${name}" in store ${this.dir}`, { code: "NO_BRANCH", path });
    const { identity, text } = this.inBranch(name, (dir) => dir.readTextIfChanged(BRANCH_FILE, this.parsed.get(name)?.identity));
    if (text !== undefined) {
      const meta = checkBranchMeta(parseJson<BranchMeta>(text, path), name, path);
      meta.entries.forEach((e) => Object.freeze(e));
      this.parsed.set(name, { identity, meta });
    }
    const { meta } = this.parsed.get(name)!;
    return { ...meta, entries: [...meta.entries], heads: { ...meta.heads } };
  }

  /** Each branch's branch.json as last parsed, by the identity of the file it was read from. */
  private readonly parsed = new Map<string, { identity: string; meta: BranchMeta }>();

  hasBranch(name: string): boolean {
    if (this.copyOf !== undefined) return name === this.copyOf;
    return BRANCH_NAME.test(name) && this.branches.has(name) && this.inBranch(name, (dir) => dir.has(BRANCH_FILE));
  }

  branchNames(): string[] {
    if (this.copyOf !== undefined) return [this.copyOf];
    return this.branches.list().filter((n) => this.hasBranch(n)).sort();
  }

  /**
   * Restart's hook: process incarnation `processKey` now continues CRID `crid` on `branch`, so
   * its next incremental snapshot there has `crid` as parent; `members` gives the other
   * processes of its tree (new processKey -> saved one), so theirs are increments too.
   */
  continueFrom(branch: string, processKey: string, crid: bigint, members: Record<string, string> = {}): void {
    if (this.copyOf !== undefined) return; // read only: the restarted process's snapshots go to a store of its own
    this.withLock(() => {
      const meta = this.branch(branch);
      if (!meta.entries.some((e) => e.crid === String(crid))) {
        throw new CrError(`no CRID ${crid} on branch "${branch}" to continue from`, { code: "BAD_CRID", crid, path: this.branchDir(branch) });
      }
      meta.heads[processKey] = String(crid);
      meta.restarted = { ...meta.restarted, [processKey]: members };
      this.writeBranch(meta);
    });
  }

  /** Opens an unnamed file in the branch directory for a new image; it appears only on commit. */
  createImageFile(branch: string): number {
    this.branch(branch); // a clear error for an unknown branch before any work
    return this.inBranch(branch, (dir) => dir.tmpfile());
  }

  /**
   * Under the lock: makes branch `name`, filled by `fill` (which writes its branch.json last), as
   * `cr branch` does: built under a staging name and renamed into place, so it appears complete
   * or not at all (a killed build is recovered on the next open).
   */
  createBranchDir(name: string, fill: (dir: StoreDir) => void): void {
    const staged = `.${name}.new`;
    this.branches.remove(staged);
    this.branches.withDir(staged, fill, true);
    this.branches.rename(staged, name);
    this.branches.sync();
  }

  writeBranch(meta: BranchMeta): void {
    this.inBranch(meta.name, (dir) => writeBranchIn(dir, meta));
  }

  /**
   * Finishes or undoes a coalesce that was killed (see docs/store.md): `.NAME.new` is complete
   * once it holds branch.json; the swap is rename NAME -> .NAME.old, then .NAME.new -> NAME.
   */
  recoverIfNeeded(): void {
    if (this.copyOf !== undefined) return;
    const branches = this.branches;
    if (!branches.list().some((n) => n.startsWith("."))) return;
    this.withLock(() => {
      for (const name of branches.list()) {
        const m = /^\.(.+)\.(new|old)$/.exec(name);
        if (!m || !BRANCH_NAME.test(m[1]!)) continue;
        const [, branch, kind] = m as unknown as [string, string, string];
        const staged = `.${branch}.new`;
        const old = `.${branch}.old`;
        if (!branches.has(branch)) {
          // Killed between the two renames: roll forward if the new state is complete.
          if (branches.has(staged) && branches.withDir(staged, (dir) => dir.has(BRANCH_FILE))) branches.rename(staged, branch);
          else if (branches.has(old)) branches.rename(old, branch);
          branches.sync();
        }
        branches.remove(kind === "new" ? staged : old);
      }
    });
  }
}

const MARKER = "cr-store.json";
const BRANCH_FILE = "branch.json";

function readOnlyCopy(dir: string, branch: string): CrError {
  return new CrError(`${dir} is a copy of branch "${branch}" (branch.json and images, no cr-store.json): cr reads it but writes nothing there; to add to it, import it into a store (cr export --store ${dir} CRID | cr import -)`, { code: "READ_ONLY", path: dir });
}

function initialise(root: StoreDir): void {
  root.writeAtomic("next-crid", counterText(1n));
  const main: BranchMeta = { name: DEFAULT_BRANCH, from: null, created: new Date().toISOString(), entries: [], heads: {} };
  root.withDir("branches", (branches) => branches.withDir(DEFAULT_BRANCH, (dir) => writeBranchIn(dir, main), true), true);
  // The marker goes last: a store is complete once it exists.
  root.writeAtomic(MARKER, `${JSON.stringify({ format: STORE_FORMAT })}\n`);
}

function checkFormat(root: StoreDir): void {
  const path = join(root.path, MARKER);
  const format = parseJson<{ format?: unknown }>(root.readText(MARKER), path).format;
  if (format === STORE_FORMAT) return;
  const which = Number.isSafeInteger(format) ? `format ${String(format)}` : "no valid format";
  throw new CrError(`store ${root.path} has ${which}; this cr reads format ${STORE_FORMAT}`, { code: "BAD_STORE", path });
}

/** Writes `meta` as branch.json of its branch directory `dir` (atomic replace). */
export function writeBranchIn(dir: StoreDir, meta: BranchMeta): void {
  dir.writeAtomic(BRANCH_FILE, `${JSON.stringify(meta, null, 2)}\n`);
}

/** next-crid's value; its content is not quoted in the error: a damaged file may hold anything. */
function readCounter(fd: number, path: string): bigint {
  const text = readFileSync(fd, "utf8").trim();
  if (!/^[1-9][0-9]*$/.test(text)) throw damaged(path, "not a CRID");
  return BigInt(text);
}

/** next-crid's content: fixed width, so the in-place rewrite never leaves a longer old tail. */
function counterText(crid: bigint): string {
  return `${String(crid).padEnd(20)}\n`;
}

export function hexIdentity(value: bigint): string {
  return `0x${value.toString(16).padStart(16, "0")}`;
}

export function checkBranchName(name: string): void {
  if (!BRANCH_NAME.test(name)) throw new CrError(`"${name}" is not a valid branch name (letters, digits, _ . -; not starting with . or -)`, { code: "BAD_BRANCH" });
}

/**
 * branch.json is user-editable text: check its shape before anything trusts it. Its values are
 * not quoted in errors (the file may hold anything); only a CRID already checked is.
 */
function checkBranchMeta(meta: BranchMeta, name: string, path: string): BranchMeta {
  const bad = (why: string) => damaged(path, why);
  if (typeof meta !== "object" || meta === null || !Array.isArray(meta.entries)) throw bad("no entries list");
  if (meta.name !== name) throw bad("names another branch");
  if (typeof meta.heads !== "object" || meta.heads === null) throw bad("no heads");
  if (meta.restarted !== undefined && !isKeyMaps(meta.restarted)) throw bad("restarted is not a map of processKey maps");
  for (const e of meta.entries) {
    if (typeof e !== "object" || e === null || typeof e.crid !== "string" || !/^[1-9][0-9]*$/.test(e.crid)) throw bad("an entry without a valid CRID");
    if (e.parent !== null && (typeof e.parent !== "string" || !/^[1-9][0-9]*$/.test(e.parent))) throw bad(`entry ${e.crid} has an invalid parent`);
  }
  return meta;
}

function isKeyMaps(value: unknown): boolean {
  const isObject = (v: unknown): v is object => typeof v === "object" && v !== null && !Array.isArray(v);
  return isObject(value) && Object.values(value).every((m) => isObject(m) && Object.values(m).every((k) => typeof k === "string"));
}

function damaged(path: string, why: string): CrError {
  return new CrError(`store file ${path} is damaged (${why})`, { code: "BAD_STORE", path });
}

function parseJson<T>(text: string, path: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CrError(`store file ${path} is damaged (not valid JSON)`, { code: "BAD_STORE", path, cause: error });
  }
}

/**
 * memfds and files on a tmpfs (/dev/shm: POSIX shared memory, glibc's named semaphores, which
 * Python's multiprocessing unlinks at once), mapped shared or held open by processes of a tree.
 * Each is one shared memory object (shmem.ts), saved once and made again once.
 *
 * Checkpoint half: the first process holding a file (in table order) saves it in a SHMEM_FILE
 * record: its identity (memfd name and seals; tmpfs path, and whether it was deleted), size,
 * owner and mode, and the data no page map holds. The pages shared mappings show are saved as
 * shared anonymous memory's are, each at the first shared mapper's addresses (pageSavers); a memfd
 * sealed against writes is saved whole in its record instead, as a restart must write it before
 * sealing it, and map it only then. Which parts hold data is asked of the file (SEEK_DATA).
 *
 * Restart half: each file is made again in cr before any process exists: a memfd of the same name
 * (seals added once its data is in), or an unnamed file (O_TMPFILE) in the tmpfs directory it was
 * in. Every descriptor on it is opened through cr's, and cr's is parked in the root stub, whose
 * children inherit it, for every mapping of it (mapVmas). A tmpfs file that had a name takes its
 * path again as the very last step, replacing what is there: the checkpoint's content comes back
 * (tmpfs does not keep it across a reboot, and the program may have written on after the
 * checkpoint), and a restart that fails leaves the path as it was.
 */
import { closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, openSync, readdirSync, readlinkSync, readSync, statSync, writeSync, constants as fsc } from "node:fs";
import { basename, dirname } from "node:path";
import { MAX_META_LENGTH, ShmemFileKind, type FdRecord, type ShmemFileRecord } from "@cr/format";
import { addSeals, dataExtents, fileSeals, linkTmpfile, MEMFD, memfdCreate, openTmpfile, PAGE_SIZE, renameAt, splitDev, STAT, unlinkAt } from "@cr/native";
import type { Problem } from "../check.js";
import { CrError, errnoCode } from "../errors.js";
import { commOf, procPath } from "../process/procfs.js";
import { pushRun, runEnd, subtractRuns, totalPages, unionRuns, type PageRun } from "../pages.js";
import type { FdEntry } from "./files.js";
import { mappedOutside, objectKey, objectPart, sharedObjectKey, type PageSavers, type RestoredObject } from "./shmem.js";
import { vmaRangeName, type Vma } from "./vmas.js";

const MEMFD_PREFIX = "/memfd:";
const WRITE_SEALS = MEMFD.F_SEAL_WRITE | MEMFD.F_SEAL_FUTURE_WRITE;
/** Data a record may carry: a meta is at most MAX_META_LENGTH, and the record has its fields too. */
export const RECORD_DATA_MAX = MAX_META_LENGTH - (1 << 20);

// ================================================================ checkpoint half

/** A mapping of a memfd or tmpfs file that makes it a shmem file object (a private mapping of a tmpfs file still there does not). */
export function isShmemFileMapping(vma: Vma): boolean {
  return vma.kind === "memfd" || vma.onTmpfs === true;
}

/** One process's mappings and descriptors. */
export interface MemberObjects {
  pid: number;
  vmas: Vma[];
  files: FdEntry[];
}

/** A shmem file as one process holds it: through a mapping or a descriptor, named for a person. */
interface Holding {
  key: string;
  /** How cr opens it in that process: map_files/A-B or fd/N. */
  rel: string;
  /** "mapping A-B" or "fd N". */
  resource: string;
  kind: number;
  /** memfd: its name; tmpfs: its path. */
  name: string;
  /** A descriptor (write(2) changes it unseen by any page table). */
  byFd: boolean;
  /** A shared mapping that writes, or may be made to (F_SEAL_FUTURE_WRITE spares such a mapping). */
  writable: boolean;
}

function holdingsOf(vmas: Vma[], files: FdEntry[]): Holding[] {
  const mapped = vmas.filter(isShmemFileMapping).map((v): Holding => {
    const range = vmaRangeName(v);
    const identity = kindAndName(v.path!, v.kind === "memfd", v.deleted);
    return { key: sharedObjectKey(v), rel: `map_files/${range}`, resource: `mapping ${range}`, ...identity, byFd: false, writable: v.shared && (v.prot.write || v.flags.mayWrite) };
  });
  const held = files.filter((f) => f.kind === "shmem").map((f): Holding => {
    const identity = kindAndName(f.path!, f.deleted === true && f.path!.startsWith(MEMFD_PREFIX), f.deleted === true);
    return { key: sharedObjectKey({ device: splitDev(f.dev), inode: f.ino }), rel: `fd/${f.fd}`, resource: `fd ${f.fd}`, ...identity, byFd: true, writable: false };
  });
  return [...mapped, ...held];
}

/** Which of the three a file is, by the path /proc shows for it, and its name in a record. */
function kindAndName(path: string, memfd: boolean, deleted: boolean): { kind: number; name: string } {
  if (memfd) return { kind: ShmemFileKind.MEMFD, name: path.slice(MEMFD_PREFIX.length) };
  return { kind: deleted ? ShmemFileKind.TMPFS_DELETED : ShmemFileKind.TMPFS, name: path };
}

/** A file as the tree holds it: the first holder, and its seals. */
interface TreeFile extends Holding {
  pid: number;
  seals: number;
}

/**
 * The memfds and tmpfs files of a frozen tree, each once: found on their first holder (the
 * members in table order), their seals read.
 */
export class TreeShmemFiles {
  private readonly files = new Map<string, TreeFile>();
  /** Files a descriptor of the tree holds: write(2) changes them where no page table shows it. */
  readonly heldOpen = new Set<string>();
  /** memfds sealed against writes: saved whole in their record, no page map's (see the module). */
  readonly recordOnly = new Set<string>();

  constructor(members: MemberObjects[]) {
    for (const { pid, vmas, files } of members) {
      for (const h of holdingsOf(vmas, files)) {
        if (h.byFd) this.heldOpen.add(h.key);
        if (this.files.has(h.key)) continue;
        const seals = h.kind === ShmemFileKind.MEMFD ? withOpen(pid, h.rel, fileSeals) : 0;
        if (seals & WRITE_SEALS) this.recordOnly.add(h.key);
        this.files.set(h.key, { ...h, pid, seals });
      }
    }
  }

  /**
   * The SHMEM_FILE records, by the process whose section holds them (each file's first holder):
   * with the data no page map saves, that is outside every shared mapping of it (pageSavers).
   */
  records(savers: PageSavers): Map<number, ShmemFileRecord[]> {
    const byPid = new Map<number, ShmemFileRecord[]>();
    for (const file of this.files.values()) {
      const covered = [...(savers.get(file.key)?.values() ?? [])].reduce<PageRun[]>((all, runs) => unionRuns(all, runs), []);
      const record = withOpen(file.pid, file.rel, (fd) => recordOf(fd, file, covered));
      byPid.set(file.pid, [...(byPid.get(file.pid) ?? []), record]);
    }
    return byPid;
  }
}

/** The parts of a file (its offsets as page runs) that `vmas`' shared mappings of it show. */
function coveredBy(vmas: Vma[], key: string): PageRun[] {
  const runs = vmas.filter((v) => v.shared && sharedObjectKey(v) === key).map(objectPart);
  return unionRuns(runs.sort((a, b) => (a.start < b.start ? -1 : 1)), []);
}

function recordOf(fd: number, file: TreeFile, covered: PageRun[]): ShmemFileRecord {
  const st = fstatSync(fd, { bigint: true });
  const runs = subtractRuns(dataRuns(fd, st.size), covered);
  const end = (run: PageRun) => (runEnd(run) < st.size ? runEnd(run) : st.size);
  const bytes = runs.reduce((sum, run) => sum + (end(run) - run.start), 0n);
  if (bytes > BigInt(RECORD_DATA_MAX)) {
    throw new CrError(`${nameOf(file)} holds ${bytes >> 20n} MiB that no shared mapping shows: more than cr saves of one file (${RECORD_DATA_MAX >> 20} MiB)`, { code: "UNSUPPORTED", pid: file.pid });
  }
  const extents = runs.map((run) => ({ offset: run.start, bytes: readAt(fd, run.start, end(run)) }));
  const { kind, name, seals } = file;
  return { device: st.dev, inode: st.ino, kind, name, size: st.size, mode: Number(st.mode) & STAT.S_IALLUGO, uid: Number(st.uid), gid: Number(st.gid), seals, extents };
}

/** The page runs of a file (offsets as run starts) that hold data. */
export function dataRuns(fd: number, size: bigint): PageRun[] {
  const extents = dataExtents(fd, 0n, size);
  const runs: PageRun[] = [];
  const page = BigInt(PAGE_SIZE);
  for (let i = 0; i < extents.length; i += 2) pushRun(runs, extents[i]!, Number((extents[i + 1]! - extents[i]! + page - 1n) / page));
  return runs;
}

export function readAt(fd: number, from: bigint, to: bigint): Uint8Array {
  const bytes = Buffer.allocUnsafe(Number(to - from));
  for (let done = 0; done < bytes.length; ) {
    const got = readSync(fd, bytes, done, bytes.length - done, Number(from) + done);
    if (got === 0) return bytes.subarray(0, done); // cut short meanwhile (check refuses files processes outside the tree hold)
    done += got;
  }
  return bytes;
}

/** A file of a process, opened read-only by cr through its /proc link, for `use`. */
export function withOpen<T>(pid: number, rel: string, use: (fd: number) => T): T {
  const path = procPath(pid, rel);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (error) {
    throw new CrError(`cannot open ${path} to read the file: ${errnoCode(error) ?? String(error)}`, { code: errnoCode(error) ?? "EIO", pid, path, cause: error });
  }
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

function nameOf(file: Pick<Holding, "kind" | "name">): string {
  if (file.kind === ShmemFileKind.MEMFD) return `memfd ${file.name}`;
  return `tmpfs file ${file.name}${file.kind === ShmemFileKind.TMPFS_DELETED ? " (deleted)" : ""}`;
}

/**
 * What `cr check` refuses of a process's memfds and tmpfs files: one a process outside the tree
 * (`members`) maps or holds too (a restored tree could not share it with that one, or would
 * replace a tmpfs file under it); a memfd sealed against writes that a mapping still writes
 * (F_SEAL_FUTURE_WRITE spares mappings made before it: a restart maps only after sealing); and
 * one holding more data than a record carries where the process maps none of it shared.
 */
export function shmemFileProblems(pid: number, members: ReadonlySet<number>, vmas: Vma[], files: FdEntry[]): Problem[] {
  const holdings = holdingsOf(vmas, files);
  const first = [...new Map(holdings.map((h) => [h.key, h] as const).reverse()).values()];
  if (first.length === 0) return [];
  return [...outsideProblems(members, first), ...sealProblems(pid, holdings), ...sizeProblems(pid, first, vmas)];
}

function outsideProblems(members: ReadonlySet<number>, holdings: Holding[]): Problem[] {
  const byKey = new Map(holdings.map((h) => [h.key, h]));
  const outside = new Map([...mappedOutside(members, new Set(byKey.keys())), ...heldOutside(members, linksOf(holdings))]);
  return [...outside].map(([key, other]) => {
    const h = byKey.get(key)!;
    return { resource: h.resource, kind: "shared-memory", reason: `${nameOf(h)} is also held by PID ${other} (${commOf(other) ?? "exited"}), which is not checkpointed with it: a restored process cannot share it with that one` };
  });
}

function sealProblems(pid: number, holdings: Holding[]): Problem[] {
  const writing = holdings.filter((h) => h.writable && h.kind === ShmemFileKind.MEMFD && withOpen(pid, h.rel, fileSeals) & WRITE_SEALS);
  return writing.map((h) => ({
    resource: h.resource,
    kind: "memfd",
    reason: `${nameOf(h)} is sealed against writes (F_SEAL_FUTURE_WRITE) but this mapping, made before the seal, may still write it: a restart seals the memfd before it maps it, and cannot make such a mapping again`,
  }));
}

function sizeProblems(pid: number, holdings: Holding[], vmas: Vma[]): Problem[] {
  const unmapped = (h: Holding) => withOpen(pid, h.rel, (fd) => subtractRuns(dataRuns(fd, fstatSync(fd, { bigint: true }).size), coveredBy(vmas, h.key)));
  const large = holdings.filter((h) => totalPages(unmapped(h)) * PAGE_SIZE > RECORD_DATA_MAX);
  return large.map((h) => ({
    resource: h.resource,
    kind: "shared-memory",
    reason: `${nameOf(h)} holds more than ${RECORD_DATA_MAX >> 20} MiB that no shared mapping of it shows, more than cr saves of one file: map it shared, or keep less in it`,
  }));
}

/** The link texts a descriptor on each of `holdings`' files shows in /proc (memfds and deleted files end in ` (deleted)`). */
function linksOf(holdings: Holding[]): Map<string, string> {
  const links = new Map<string, string>();
  for (const h of holdings) {
    if (h.kind === ShmemFileKind.MEMFD) links.set(`${MEMFD_PREFIX}${h.name} (deleted)`, h.key);
    else links.set(h.kind === ShmemFileKind.TMPFS_DELETED ? `${h.name} (deleted)` : h.name, h.key);
  }
  return links;
}

/**
 * Each file (key) of `links` (link text -> key) that a descriptor of a process other than
 * `members` holds, with one such process: found by the link text, confirmed by the identity.
 */
function heldOutside(members: ReadonlySet<number>, links: ReadonlyMap<string, string>): Map<string, number> {
  const found = new Map<string, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || members.has(pid)) continue;
    for (const [fd, link] of fdLinks(pid)) {
      const key = links.get(link);
      if (key !== undefined && !found.has(key) && keyOf(`/proc/${pid}/fd/${fd}`) === key) found.set(key, pid);
    }
  }
  return found;
}

/**
 * A process's descriptors and what their links show; none once it has exited, and none root may
 * not read (EACCES: this VM's init, another user namespace's process: cr could not checkpoint
 * that one with the tree either).
 */
function fdLinks(pid: number): [string, string][] {
  const fds = passingOver(() => readdirSync(`/proc/${pid}/fd`)) ?? [];
  return fds.flatMap((fd): [string, string][] => {
    const link = passingOver(() => readlinkSync(`/proc/${pid}/fd/${fd}`));
    return link === undefined ? [] : [[fd, link]];
  });
}

function keyOf(path: string): string | undefined {
  const st = passingOver(() => statSync(path, { bigint: true }));
  return st && sharedObjectKey({ device: splitDev(st.dev), inode: st.ino });
}

/** What `read` reads of another process's /proc, or undefined once it (or the descriptor) is gone, or where root may not read. */
function passingOver<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (["ENOENT", "ESRCH", "EACCES"].includes(errnoCode(error) ?? "")) return undefined;
    throw error;
  }
}

// ================================================================ restart half

/**
 * What a restart finds at the path of each tmpfs file that had one: nothing, or the very file
 * it saved, is fine (it is replaced at the end); another file there, or a live process holding
 * what is there, is refused without `force` (the restart would replace it under that process,
 * which would keep the old one), and a warning with it. A deleted one needs its directory.
 */
export function checkShmemFiles(files: ShmemFileRecord[], crid: bigint, force: boolean): string[] {
  const warnings: string[] = [];
  for (const file of files.filter((f) => f.kind !== ShmemFileKind.MEMFD)) {
    const dir = dirname(file.name);
    if (!isDirectory(dir)) throw refused(file, crid, `its directory ${dir} is gone`);
    if (file.kind === ShmemFileKind.TMPFS_DELETED) continue;
    const why = replaceProblem(file);
    if (why && !force) throw refused(file, crid, `${why} (--force to replace it anyway)`);
    if (why) warnings.push(`${nameOf(file)}: ${why}; replaced with the checkpoint's anyway (--force)`);
  }
  return warnings;
}

/** Why replacing the file at a saved tmpfs path would harm someone, or undefined. */
function replaceProblem(file: ShmemFileRecord): string | undefined {
  let st;
  try {
    st = statSync(file.name, { bigint: true });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
  const key = sharedObjectKey({ device: splitDev(st.dev), inode: st.ino });
  const holder = mappedOutside(new Set(), new Set([key])).get(key) ?? heldOutside(new Set(), new Map([[file.name, key]])).get(key);
  if (holder !== undefined) return `PID ${holder} (${commOf(holder) ?? "exited"}) holds the file there now, and would keep it while the restarted processes get the checkpoint's`;
  if (st.ino !== file.inode || st.dev !== file.device) return "another file has its path now";
  return undefined;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
    throw error;
  }
}

function refused(file: ShmemFileRecord, crid: bigint, why: string): CrError {
  return new CrError(`${nameOf(file)} of checkpoint ${crid} cannot be made again: ${why}`, { code: "FILE_CHANGED", crid, path: file.name, step: "check files" });
}

/**
 * Restart half: the memfds and tmpfs files of an image, made again and held by cr, with their
 * data, size, owner, mode and seals, before any process exists.
 */
export class RestoredShmemFiles implements MadeFiles {
  private readonly made = new Map<string, { fd: number; file: ShmemFileRecord }>();

  constructor(files: ShmemFileRecord[], crid: bigint) {
    try {
      for (const file of files) this.made.set(objectKey(file), { fd: make(file, crid), file });
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** cr's descriptor on each file, by saved key: parked in the root stub for the mappings. */
  descriptors(): Map<string, number> {
    return new Map([...this.made].map(([key, { fd }]) => [key, fd]));
  }

  /** Whether a file's pages go in through its mappings (not a memfd sealed against writes, which has them all already). */
  filledThroughMappings(key: string): boolean {
    return (this.made.get(key)!.file.seals & WRITE_SEALS) === 0;
  }

  /** What to open for a saved descriptor on one of the files (a new open of cr's, with the descriptor's flags). */
  pathFor(fd: Pick<FdRecord, "fd" | "device" | "inode">): string {
    const made = this.made.get(objectKey(fd));
    if (!made) throw new CrError(`the image has fd ${fd.fd} on a memfd or tmpfs file it did not save`, { code: "BAD_IMAGE" });
    return `/proc/${process.pid}/fd/${made.fd}`;
  }

  /** The last step: each tmpfs file that had a path takes it again, replacing what is there. */
  linkAtPaths(): void {
    for (const { fd, file } of this.made.values()) if (file.kind === ShmemFileKind.TMPFS) linkAt(fd, file.name);
  }

  /** Closes cr's descriptors: a file no process holds vanishes. */
  release(): void {
    this.made.forEach(({ fd }) => closeSync(fd));
    this.made.clear();
  }
}

/** One file made again, its data in, its size, owner and mode set, then sealed as it was. */
function make(file: ShmemFileRecord, crid: bigint): number {
  try {
    const fd = create(file);
    try {
      ftruncateSync(fd, Number(file.size));
      for (const e of file.extents) writeAll(fd, e.bytes, e.offset);
      fchownSync(fd, file.uid, file.gid); // before the mode: chown clears set-id bits
      fchmodSync(fd, file.mode);
      if (file.kind === ShmemFileKind.MEMFD) sealAsSaved(fd, file.seals);
      return fd;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  } catch (error) {
    throw new CrError(`cannot make ${nameOf(file)} of checkpoint ${crid} again: ${error instanceof Error ? error.message : String(error)}`, { code: errnoCode(error) ?? "EIO", crid, path: file.name, cause: error });
  }
}

/**
 * A memfd of the saved name, sealable (one made without MFD_ALLOW_SEALING had F_SEAL_SEAL, which
 * is added back), not executable where it had F_SEAL_EXEC without exec bits (vm.memfd_noexec may
 * refuse another); a tmpfs file, unnamed in its directory.
 */
function create(file: ShmemFileRecord): number {
  if (file.kind !== ShmemFileKind.MEMFD) return inDirectory(dirname(file.name), (dir) => openTmpfile(dir, 0o600));
  const noexec = file.seals & MEMFD.F_SEAL_EXEC && (file.mode & 0o111) === 0;
  return memfdCreate(file.name, MEMFD.MFD_ALLOW_SEALING | (noexec ? MEMFD.MFD_NOEXEC_SEAL : 0));
}

/** Adds the saved seals the new memfd lacks (MFD_NOEXEC_SEAL gave it F_SEAL_EXEC already). */
function sealAsSaved(fd: number, seals: number): void {
  const missing = seals & ~fileSeals(fd);
  if (missing) addSeals(fd, missing);
}

export function writeAll(fd: number, bytes: Uint8Array, offset: bigint): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, Number(offset) + done);
}

/**
 * Links cr's unnamed file at `path` by a temporary name in the same directory, then renames it
 * over what is there: the path never lacks a file, nor shows a half-made one.
 */
function linkAt(fd: number, path: string): void {
  const temporary = `.${basename(path)}.cr-${process.pid}`;
  try {
    inDirectory(dirname(path), (dir) => {
      linkTmpfile(fd, dir, temporary);
      try {
        renameAt(dir, temporary, dir, basename(path));
      } catch (error) {
        unlinkAt(dir, temporary);
        throw error;
      }
    });
  } catch (error) {
    throw new CrError(`cannot put tmpfs file ${path} back: ${error instanceof Error ? error.message : String(error)}`, { code: errnoCode(error) ?? "EIO", path, cause: error });
  }
}

export function inDirectory<T>(path: string, use: (dir: number) => T): T {
  const dir = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    return use(dir);
  } finally {
    closeSync(dir);
  }
}

/** Files made for a restart that the restored processes map: cr's descriptor on each, by saved key. */
export interface MadeFiles {
  descriptors(): Map<string, number>;
  /** Whether the file's pages go in through its mappings (see mapVmas). */
  filledThroughMappings(key: string): boolean;
}

/** The made files as shmem.ts's objects, by saved key, at the descriptor numbers they are parked at in the stubs. */
export function restoredObjects(made: MadeFiles[], parkedAt: ReadonlyMap<string, number>): Map<string, RestoredObject> {
  return new Map(made.flatMap((files) => [...files.descriptors().keys()].map((key): [string, RestoredObject] => [key, { fd: BigInt(parkedAt.get(key)!), filledThroughMappings: files.filledThroughMappings(key) }])));
}

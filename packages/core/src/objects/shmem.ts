/**
 * Shared memory objects (shmem): shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, or a shared
 * mapping of /dev/zero: `/dev/zero (deleted)` in maps, an inode on the kernel's internal mount),
 * and memfds and tmpfs files (shmem-files.ts), each mapped by one or more mappings. This module
 * has what they share: which pages hold data, which process's page map saves them, which
 * mappings can be write-tracked; and the shared anonymous objects themselves.
 *
 * Checkpoint half: an object's pages that shared mappings show are saved as DATA at the
 * addresses of the first process (in table order) that maps it shared. Which pages hold data is
 * asked of the object itself (SEEK_DATA through /proc/PID/map_files): a shmem page keeps its
 * bytes when no page table maps it (MADV_DONTNEED of a shared mapping), so the process's own
 * page tables do not tell. An object that a process outside the checkpoint maps too cannot be
 * restored shared with it: `cr check` names that process.
 *
 * Restart half: each shared anonymous object is created once, at its saved size, and every
 * mapping of it is mapped from it at its offset, so writes through one show through the others
 * as before.
 */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { dataExtents, MM, OPEN, PAGE_SIZE } from "@cr/native";
import { VmaFlags, type VmaRecord } from "@cr/format";
import type { Problem } from "../check.js";
import { errnoCode } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { commOf, procPath } from "../process/procfs.js";
import { intersectRuns, pushRun, runEnd, RunList, subtractRuns, unionRuns, type PageRun } from "../pages.js";
import { collectVmas, vmaPages, vmaRangeName, type Vma } from "./vmas.js";

const SHARED_ANONYMOUS_NAME = "/dev/zero (deleted)";

// ================================================================ checkpoint half

/** Whether `vma` is a shared mapping of a shmem object: shared anonymous memory, a memfd or a tmpfs file mapped shared. */
export function isSharedObjectMapping(vma: Vma): boolean {
  return vma.kind === "shared-anonymous" || (vma.shared && (vma.kind === "memfd" || vma.onTmpfs === true));
}

/** The pages of `part` (inside `vma`, a shared mapping of a shmem object) whose object holds data. */
export function sharedObjectRuns(pid: number, vma: Vma, part: PageRun): PageRun[] {
  const fd = openSync(procPath(pid, `map_files/${vmaRangeName(vma)}`), "r");
  try {
    const offsetOf = (address: bigint) => vma.offset + (address - vma.start);
    const extents = dataExtents(fd, offsetOf(part.start), offsetOf(runEnd(part)));
    // As numbers (exact: pages.ts), no bigint per extent: an object can have tens of thousands.
    const shift = Number(vma.start) - Number(vma.offset);
    const runs = new RunList();
    for (let i = 0; i < extents.length; i += 2) {
      const from = Number(extents[i]!);
      runs.add(shift + from, shift + from + Math.ceil((Number(extents[i + 1]!) - from) / PAGE_SIZE) * PAGE_SIZE);
    }
    return runs.runs;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `vma` shows an object that only writes through its mappings change, so that write
 * tracking can tell what changed (trackers/shared-objects.ts): a shared mapping of shared
 * anonymous memory, a memfd or a deleted tmpfs file (no path reaches it) that no descriptor of
 * the tree holds (`heldOpen`: write(2) shows in no page table).
 */
export function isTrackedThroughMappings(vma: Vma, heldOpen: ReadonlySet<string>): boolean {
  const unreachable = vma.kind === "shared-anonymous" || vma.kind === "memfd" || (vma.onTmpfs === true && vma.deleted);
  return isSharedObjectMapping(vma) && unreachable && !heldOpen.has(sharedObjectKey(vma));
}

/**
 * The pages of shared mappings whose object holds no data now: a page MADV_REMOVE or a hole
 * punch took out of the object shows in no write tracking. Such a page is looked at again, and
 * found empty, rather than kept as the parent saved it.
 */
export function objectHoles(pid: number, shared: Vma[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const v of shared) {
    const whole = { start: v.start, pages: vmaPages(v) };
    for (const hole of subtractRuns([whole], sharedObjectRuns(pid, v, whole))) pushRun(runs, hole.start, hole.pages);
  }
  return runs;
}

/** Which process's page map saves which pages of each shared object: key -> pid -> the object's pages it saves (runs of offsets). */
export type PageSavers = Map<string, Map<number, PageRun[]>>;

/**
 * Each page of each object is saved by the first member, in table order, that maps it shared, at
 * its addresses: a part only a later member maps (the first unmapped it) is that member's to
 * save. Objects of `recordOnly` have no page map's: their data is saved whole elsewhere (a memfd
 * sealed against writes, shmem-files.ts).
 */
export function pageSavers(members: { pid: number; vmas: Vma[] }[], recordOnly: ReadonlySet<string>): PageSavers {
  const savers: PageSavers = new Map();
  for (const { pid, vmas } of members) {
    for (const v of vmas.filter((v) => isSharedObjectMapping(v) && !recordOnly.has(sharedObjectKey(v)))) {
      const byPid = savers.get(sharedObjectKey(v)) ?? new Map<number, PageRun[]>();
      const earlier = [...byPid].filter(([other]) => other !== pid).reduce<PageRun[]>((all, [, runs]) => unionRuns(all, runs), []);
      byPid.set(pid, unionRuns(byPid.get(pid) ?? [], subtractRuns([objectPart(v)], earlier)));
      savers.set(sharedObjectKey(v), byPid);
    }
  }
  return savers;
}

/** The pages of the object `vma` shows, as a run of offsets. */
export function objectPart(vma: Vma): PageRun {
  return { start: vma.offset, pages: vmaPages(vma) };
}

/** The addresses in `vma` of `parts`, pages of its object (runs of offsets), in address order. */
export function atAddresses(vma: Vma, parts: PageRun[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const r of intersectRuns(parts, [objectPart(vma)])) pushRun(runs, r.start - vma.offset + vma.start, r.pages);
  return runs;
}

/** The pages of `pid`'s shared object mappings that another process's page map saves, or none (pageSavers). */
export function savedElsewhere(pid: number, vmas: Vma[], savers: PageSavers): PageRun[] {
  let runs: PageRun[] = [];
  for (const v of vmas.filter(isSharedObjectMapping)) {
    const mine = savers.get(sharedObjectKey(v))?.get(pid) ?? [];
    runs = unionRuns(runs, atAddresses(v, subtractRuns([objectPart(v)], mine)));
  }
  return runs;
}

/**
 * A shared anonymous object of `vmas` that a process other than `members` maps too: a restored
 * process could not share it with that one. Reads every process's maps, so only when there is
 * such an object.
 */
export function sharedMemoryProblems(members: ReadonlySet<number>, vmas: Vma[]): Problem[] {
  const objects = new Map(vmas.filter((v) => v.kind === "shared-anonymous").map((v) => [sharedObjectKey(v), v]));
  return [...mappedOutside(members, new Set(objects.keys()))].map(([key, pid]) => ({
    resource: `mapping ${vmaRangeName(objects.get(key)!)}`,
    kind: "shared-memory",
    reason: `shared anonymous memory also mapped by PID ${pid} (${commOf(pid) ?? "exited"}), which is not checkpointed with it: a restored process cannot share memory with it`,
  }));
}

/**
 * Each of `keys` (sharedObjectKey) that a process other than `members` maps, with one such
 * process. Reads every process's maps, so only when there are keys. A process whose maps even
 * root may not read (EACCES: this VM's init, another user namespace's process) is passed over:
 * cr could not checkpoint that one with the target either, and sharing an object with it takes a
 * fork or /proc/PID/map_files, which need the same access.
 */
export function mappedOutside(members: ReadonlySet<number>, keys: ReadonlySet<string>): Map<string, number> {
  const found = new Map<string, number>();
  if (keys.size === 0) return found;
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || members.has(pid)) continue;
    for (const key of mappedKeysOf(pid, keys)) if (!found.has(key)) found.set(key, pid);
  }
  return found;
}

/** The object a mapping shows: "major:minor inode", as maps writes them (hex device numbers). */
export function sharedObjectKey(vma: Pick<Vma, "device" | "inode">): string {
  return `${vma.device.major.toString(16).padStart(2, "0")}:${vma.device.minor.toString(16).padStart(2, "0")} ${vma.inode}`;
}

/** Which of `keys` the maps of `pid` show; none once it has exited or when root may not read them. */
function mappedKeysOf(pid: number, keys: ReadonlySet<string>): Set<string> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, "utf8");
  } catch (error) {
    if (["ENOENT", "ESRCH", "EACCES"].includes(errnoCode(error) ?? "")) return new Set();
    throw error;
  }
  const found = new Set<string>();
  for (const line of text.split("\n")) {
    const fields = line.split(/\s+/, 5);
    const key = `${fields[3]} ${fields[4]}`;
    if (keys.has(key)) found.add(key);
  }
  return found;
}

// ================================================================ restart half

/** A shared memory object made for a restart: its descriptor in the restored processes, and whether its pages are written through its mappings. */
export interface RestoredObject {
  fd: bigint;
  /** False for a memfd sealed against writes: its data went in before it was sealed, its mappings are never writable. */
  filledThroughMappings: boolean;
}

/** Whether a saved mapping is of a shared anonymous object. */
export function isSharedAnonymous(vma: VmaRecord): boolean {
  return (vma.flags & VmaFlags.SHARED) !== 0 && (vma.flags & VmaFlags.ANONYMOUS) !== 0 && vma.name === SHARED_ANONYMOUS_NAME;
}

/** One object per saved shared memory object: its key (device and inode at the checkpoint). */
export function objectKey(vma: Pick<VmaRecord, "device" | "inode">): string {
  return `${vma.device}:${vma.inode}`;
}

/**
 * Creates each shared anonymous object of `vmas` in the target and returns a descriptor of it
 * there per object key, numbered from `above` on (mapVmas maps every mapping from it and closes
 * it; the processes of a tree inherit it from the root, where it is made, by their clone). The
 * object is made by a mapping of its size that is opened through map_files and unmapped at
 * once: a mapping made with MAP_SHARED|MAP_ANONYMOUS is its own object, and only a descriptor
 * lets several mappings share one.
 */
export function createSharedObjects(remote: Remote, vmas: VmaRecord[], above: number): Map<string, RestoredObject> {
  const sizes = new Map<string, bigint>();
  for (const v of vmas.filter(isSharedAnonymous)) {
    const key = objectKey(v);
    sizes.set(key, [v.fileSize, v.pgoff + (v.end - v.start), sizes.get(key) ?? 0n].reduce((a, b) => (a > b ? a : b)));
  }
  const objects = new Map<string, RestoredObject>();
  try {
    for (const [key, size] of sizes) objects.set(key, { fd: createObject(remote, size, BigInt(above + objects.size)), filledThroughMappings: true });
  } catch (error) {
    for (const { fd } of objects.values()) remote.call("close", [fd], "closing a shared memory object");
    throw error;
  }
  return objects;
}

function createObject(remote: Remote, size: bigint, fd: bigint): bigint {
  const what = `creating a shared memory object of ${size} bytes`;
  const { PROT_READ, PROT_WRITE, MAP_SHARED, MAP_ANONYMOUS } = MM;
  const { O_RDWR, O_CLOEXEC, AT_FDCWD } = OPEN;
  const at = remote.call("mmap", [0n, size, BigInt(PROT_READ | PROT_WRITE), BigInt(MAP_SHARED | MAP_ANONYMOUS), BigInt.asUintN(64, -1n), 0n], what);
  try {
    const path = remote.putString(`/proc/self/map_files/${vmaRangeName({ start: at, end: at + size })}`);
    const opened = remote.call("openat", [AT_FDCWD, path, BigInt(O_RDWR | O_CLOEXEC), 0n], `${what}: opening it`);
    remote.call("dup3", [opened, fd, BigInt(O_CLOEXEC)], `${what}: moving it to fd ${fd}`);
    remote.call("close", [opened], `${what}: closing its first descriptor`);
    return fd;
  } finally {
    remote.call("munmap", [at, size], `${what}: unmapping its first mapping`);
  }
}

/**
 * The restored process's own objects (sharedObjectKey) of saved objectKeys `keys` (e.g. the files
 * a descriptor of the tree holds): its saved shared mappings of them, found again by address.
 */
export function liveSharedKeys(pid: number, saved: VmaRecord[], keys: ReadonlySet<string>): Set<string> {
  const starts = new Set(saved.filter((v) => (v.flags & VmaFlags.SHARED) !== 0 && keys.has(objectKey(v))).map((v) => v.start));
  if (starts.size === 0) return new Set();
  return new Set(collectVmas(pid).filter((v) => starts.has(v.start)).map(sharedObjectKey));
}

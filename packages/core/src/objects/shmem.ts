/**
 * Shared anonymous memory: MAP_SHARED|MAP_ANONYMOUS, or a shared mapping of /dev/zero. Either
 * is one shmem object (`/dev/zero (deleted)` in maps, its inode on the kernel's internal mount),
 * mapped by one or more mappings.
 *
 * Checkpoint half: the object's pages are saved as DATA at the addresses that map them. Which
 * pages hold data is asked of the object itself (SEEK_DATA through /proc/PID/map_files): a shmem
 * page keeps its bytes when no page table maps it (MADV_DONTNEED of a shared mapping), so the
 * process's own page tables do not tell. An object that a process outside the checkpoint maps
 * too cannot be restored shared with it: `cr check` names that process.
 *
 * Restart half: each object is created once, at its saved size, and every mapping of it is
 * mapped from it at its offset, so writes through one show through the others as before.
 */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { dataExtents, MM, OPEN, PAGE_SIZE } from "@cr/native";
import { VmaFlags, type VmaRecord } from "@cr/format";
import type { Problem } from "../check.js";
import { errnoCode } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { commOf, procPath } from "../process/procfs.js";
import { pushRun, runEnd, type PageRun } from "../pages.js";
import { collectVmas, vmaRangeName, type Vma } from "./vmas.js";

const SHARED_ANONYMOUS_NAME = "/dev/zero (deleted)";

// ================================================================ checkpoint half

/** The pages of `part` (inside `vma`, a shared anonymous mapping) whose object holds data. */
export function sharedObjectRuns(pid: number, vma: Vma, part: PageRun): PageRun[] {
  const fd = openSync(procPath(pid, `map_files/${vmaRangeName(vma)}`), "r");
  try {
    const offsetOf = (address: bigint) => vma.offset + (address - vma.start);
    const extents = dataExtents(fd, offsetOf(part.start), offsetOf(runEnd(part)));
    const runs: PageRun[] = [];
    for (let i = 0; i < extents.length; i += 2) {
      pushRun(runs, vma.start + (extents[i]! - vma.offset), Number((extents[i + 1]! - extents[i]!) / BigInt(PAGE_SIZE)));
    }
    return runs;
  } finally {
    closeSync(fd);
  }
}

/**
 * The shared anonymous mappings of `vmas` through which alone their pages can change: no other
 * mapping of the process shows the same part of the object, and no other process of the tree
 * maps the object (`sharedWithOthers`: sharedByMembers). Their writes can be tracked like
 * private memory's (userfaultfd write-protect works on shmem); a page written through another
 * mapping would not show in this one's page tables. (Processes outside the tree mapping the
 * object are refused: sharedMemoryProblems.)
 */
export function soleMappings(vmas: Vma[], sharedWithOthers: ReadonlySet<string>): Set<Vma> {
  const byObject = new Map<string, Vma[]>();
  for (const v of vmas.filter((v) => v.kind === "shared-anonymous" && !sharedWithOthers.has(sharedObjectKey(v)))) {
    const mappings = byObject.get(sharedObjectKey(v));
    if (mappings) mappings.push(v);
    else byObject.set(sharedObjectKey(v), [v]);
  }
  const sole = new Set<Vma>();
  for (const mappings of byObject.values()) {
    const end = (v: Vma) => v.offset + (v.end - v.start);
    for (const v of mappings) if (mappings.every((o) => o === v || end(o) <= v.offset || end(v) <= o.offset)) sole.add(v);
  }
  return sole;
}

/** The shared anonymous objects that more than one process of the tree maps (each member's mappings given). */
export function sharedByMembers(members: Vma[][]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const vmas of members) {
    for (const key of new Set(vmas.filter((v) => v.kind === "shared-anonymous").map(sharedObjectKey))) {
      if (seen.has(key)) twice.add(key);
      seen.add(key);
    }
  }
  return twice;
}

/**
 * The pages of `vmas` whose shared object an earlier member's section holds already (`saved`);
 * the objects of `vmas` are added to `saved`. An object is saved once, at the first mapper's addresses.
 */
export function savedElsewhere(vmas: Vma[], saved: Set<string>): PageRun[] {
  const runs: PageRun[] = [];
  const mine = vmas.filter((v) => v.kind === "shared-anonymous");
  for (const v of mine.filter((v) => saved.has(sharedObjectKey(v)))) pushRun(runs, v.start, Number((v.end - v.start) / BigInt(PAGE_SIZE)));
  for (const v of mine) saved.add(sharedObjectKey(v));
  return runs;
}

/**
 * A shared anonymous object of `vmas` that a process other than `members` maps too: a restored
 * process could not share it with that one. Reads every process's maps, so only when there is
 * such an object.
 */
export function sharedMemoryProblems(members: ReadonlySet<number>, vmas: Vma[]): Problem[] {
  const objects = new Map(vmas.filter((v) => v.kind === "shared-anonymous").map((v) => [sharedObjectKey(v), v]));
  if (objects.size === 0) return [];
  const problems: Problem[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || members.has(pid)) continue;
    for (const key of sharedKeysOf(pid)) {
      const vma = objects.get(key);
      if (!vma) continue;
      problems.push({
        resource: `mapping ${vmaRangeName(vma)}`,
        kind: "shared-memory",
        reason: `shared anonymous memory also mapped by PID ${pid} (${commOf(pid) ?? "exited"}), which is not checkpointed with it: a restored process cannot share memory with it`,
      });
    }
  }
  return problems;
}

/** The object a mapping shows: "major:minor inode", as maps writes them (hex device numbers). */
export function sharedObjectKey(vma: Vma): string {
  return `${vma.device.major.toString(16).padStart(2, "0")}:${vma.device.minor.toString(16).padStart(2, "0")} ${vma.inode}`;
}

/**
 * The maps keys of `pid`'s shared anonymous mappings. None once it has exited, and none for a
 * process whose maps even root may not read (EACCES: this VM's init, another user namespace's
 * process): cr could not checkpoint that one with the target either, and sharing anonymous
 * memory takes a fork or /proc/PID/map_files, which need the same access.
 */
function sharedKeysOf(pid: number): Set<string> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, "utf8");
  } catch (error) {
    if (["ENOENT", "ESRCH", "EACCES"].includes(errnoCode(error) ?? "")) return new Set();
    throw error;
  }
  const keys = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.endsWith(SHARED_ANONYMOUS_NAME)) continue;
    const fields = line.split(/\s+/);
    if (fields[1]?.[3] === "s") keys.add(`${fields[3]} ${fields[4]}`);
  }
  return keys;
}

// ================================================================ restart half

/** Whether a saved mapping is of a shared anonymous object. */
export function isSharedAnonymous(vma: VmaRecord): boolean {
  return (vma.flags & VmaFlags.SHARED) !== 0 && (vma.flags & VmaFlags.ANONYMOUS) !== 0 && vma.name === SHARED_ANONYMOUS_NAME;
}

/** One object per saved shared anonymous object: its key (device and inode at the checkpoint). */
export function objectKey(vma: VmaRecord): string {
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
export function createSharedObjects(remote: Remote, vmas: VmaRecord[], above: number): Map<string, bigint> {
  const sizes = new Map<string, bigint>();
  for (const v of vmas.filter(isSharedAnonymous)) {
    const key = objectKey(v);
    sizes.set(key, [v.fileSize, v.pgoff + (v.end - v.start), sizes.get(key) ?? 0n].reduce((a, b) => (a > b ? a : b)));
  }
  const fds = new Map<string, bigint>();
  try {
    for (const [key, size] of sizes) fds.set(key, createObject(remote, size, BigInt(above + fds.size)));
  } catch (error) {
    for (const fd of fds.values()) remote.call("close", [fd], "closing a shared memory object");
    throw error;
  }
  return fds;
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

/** The saved objects (objectKey) that more than one process of a tree maps (each one's saved mappings given). */
export function sharedObjectsOfMany(processes: VmaRecord[][]): Set<string> {
  const seen = new Set<string>();
  const many = new Set<string>();
  for (const vmas of processes) {
    for (const key of new Set(vmas.filter(isSharedAnonymous).map(objectKey))) {
      if (seen.has(key)) many.add(key);
      seen.add(key);
    }
  }
  return many;
}

/**
 * The restored process's own objects (sharedObjectKey) that other processes of the tree map too:
 * those of its saved mappings of `many` (sharedObjectsOfMany), found again by address.
 */
export function liveSharedKeys(pid: number, saved: VmaRecord[], many: ReadonlySet<string>): Set<string> {
  const starts = new Set(saved.filter((v) => isSharedAnonymous(v) && many.has(objectKey(v))).map((v) => v.start));
  if (starts.size === 0) return new Set();
  return new Set(collectVmas(pid).filter((v) => starts.has(v.start)).map(sharedObjectKey));
}

/**
 * Attributes of an address space that creating its mappings again does not bring back:
 * madvise flags (MADV_DONTDUMP, DONTFORK, WIPEONFORK, HUGEPAGE, NOHUGEPAGE, SEQUENTIAL, RANDOM,
 * MERGEABLE), mlock, mseal, guard regions (MADV_GUARD_INSTALL), and the process-wide
 * PR_SET_THP_DISABLE, PR_SET_MEMORY_MERGE, PR_SET_MDWE and mlockall(MCL_FUTURE).
 *
 * Checkpoint half: the per-mapping flags come from smaps VmFlags (vmaRecord keeps them in the
 * VMA record's flag bits); guard regions from PAGEMAP_SCAN's PAGE_IS_GUARD; the prctl settings
 * from injected PR_GET_* (THP_DISABLE's "except advised" bit is not in /proc); MCL_FUTURE, which
 * nothing shows, from a probe mapping (see askFutureLocking).
 * Restart half: injected madvise/mlock2/mseal/prctl/mlockall once the mappings are filled and
 * protected.
 */
import { constants } from "node:os";
import { MADV, MLOCK, MM, PAGE_IS_GUARD, PAGE_SIZE, pagemapScanRanges, pagemapScanRangesAsync, PRCTL, probeKernel } from "@cr/native";
import { VmaFlags, type MemoryAttrsRecord, type VmaRecord } from "@cr/format";
import { injectChecked, SCRATCH, type Queries, type Remote } from "../process/inject.js";
import { isRestoredMapping } from "./memory.js";
import { RunList, runEnd, runRanges, unionRuns, type PageRun } from "../pages.js";
import type { Problem } from "../check.js";
import { vmaRangeName, vmaRanges, type Vma } from "./vmas.js";

type GuardRegion = MemoryAttrsRecord["guards"][number];

const { PR_SET_THP_DISABLE, PR_GET_THP_DISABLE, PR_SET_MDWE, PR_GET_MDWE, PR_SET_MEMORY_MERGE, PR_GET_MEMORY_MERGE } = PRCTL;
const { MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT } = MLOCK;
const EINVAL = -BigInt(constants.errno.EINVAL);

/** VMA record flag -> the madvise advice that sets it again. */
const ADVICE: [flag: number, advice: keyof typeof MADV][] = [
  [VmaFlags.DONTDUMP, "MADV_DONTDUMP"],
  [VmaFlags.DONTFORK, "MADV_DONTFORK"],
  [VmaFlags.WIPEONFORK, "MADV_WIPEONFORK"],
  [VmaFlags.HUGEPAGE, "MADV_HUGEPAGE"],
  [VmaFlags.NOHUGEPAGE, "MADV_NOHUGEPAGE"],
  [VmaFlags.SEQUENTIAL, "MADV_SEQUENTIAL"],
  [VmaFlags.RANDOM, "MADV_RANDOM"],
  [VmaFlags.MERGEABLE, "MADV_MERGEABLE"],
];

/** The VMA record bits of what this module restores, from smaps VmFlags. */
export function attrFlags(vma: Vma): number {
  const f = vma.flags;
  const bit = (on: boolean, value: number) => (on ? value : 0);
  return (
    bit(f.dontdump, VmaFlags.DONTDUMP) |
    bit(f.dontCopy, VmaFlags.DONTFORK) |
    bit(f.locked, VmaFlags.LOCKED) |
    bit(f.wipeOnFork, VmaFlags.WIPEONFORK) |
    bit(f.hugepage, VmaFlags.HUGEPAGE) |
    bit(f.noHugepage, VmaFlags.NOHUGEPAGE) |
    bit(f.seqRead, VmaFlags.SEQUENTIAL) |
    bit(f.randRead, VmaFlags.RANDOM) |
    bit(f.mergeable, VmaFlags.MERGEABLE) |
    bit(f.lockOnFault, VmaFlags.LOCKONFAULT) |
    bit(f.sealed, VmaFlags.SEALED) |
    // Only a shared mapping's mayWrite says how its file was opened (a private one always may write).
    bit(vma.shared && f.mayWrite, VmaFlags.MAYWRITE)
  );
}

// ================================================================ checkpoint half

/**
 * The frozen process's process-wide memory settings, asked of it (`queries`). Its guard regions
 * come from scanGuards.
 */
export function askMemorySettings(queries: Queries): () => Omit<MemoryAttrsRecord, "guards"> {
  const prctl = (option: bigint, what: string) => queries.ask("prctl", [option, 0n, 0n, 0n, 0n], what);
  const thpDisable = prctl(PR_GET_THP_DISABLE, "prctl(PR_GET_THP_DISABLE)");
  const memoryMerge = prctl(PR_GET_MEMORY_MERGE, "prctl(PR_GET_MEMORY_MERGE)");
  const mdwe = prctl(PR_GET_MDWE, "prctl(PR_GET_MDWE)");
  const lockFuture = askFutureLocking(queries);
  return () => ({
    thpDisable: Number(thpDisable.result),
    memoryMerge: Number(memoryMerge.result),
    mdwe: Number(mdwe.result),
    lockFuture: lockFuture(),
  });
}

/**
 * mlockall(MCL_FUTURE) is a flag of the mm that /proc does not show: a page mapped now is
 * locked when it is set (MADV_DONTNEED refuses a locked page: EINVAL), and with MCL_ONFAULT it is
 * not faulted in (mincore says so). A probe page is mapped now (one injected syscall), and asked
 * both, then unmapped, in the run of `queries`: a run goes to its end once begun, even if cr dies.
 * (Asked by VmLck in /proc and pagemap between two injected syscalls, it cost ~0.4 ms a freeze.)
 */
function askFutureLocking(queries: Queries): () => number {
  const page = BigInt(PAGE_SIZE);
  const probe = injectChecked(queries.pid, queries.tid, "mmap", [0n, page, BigInt(MM.PROT_READ), BigInt(MM.MAP_PRIVATE | MM.MAP_ANONYMOUS), BigInt.asUintN(64, -1n), 0n], "mapping a probe page");
  const resident = queries.ask("mincore", [probe, page, SCRATCH], "mincore of the probe page", 1);
  const dropped = queries.ask("madvise", [probe, page, MADV.MADV_DONTNEED], "MADV_DONTNEED of the probe page");
  const unmapped = queries.ask("munmap", [probe, page], "unmapping the probe page");
  return () => {
    void unmapped.result; // a failure throws
    if (dropped.raw === EINVAL) return MCL_FUTURE | ((resident.out[0]! & 1) === 1 ? 0 : MCL_ONFAULT);
    void dropped.result; // another failure throws
    return 0;
  };
}

/**
 * Guard pages are PTE markers, not pages: never saved as data (process_vm_readv cannot read
 * them), and without this they would come back as ordinary zero pages. Kernels before 6.14
 * have no PAGE_IS_GUARD to report them (nor, before 6.13, guard regions): none are found there.
 * The pages of `scope` are scanned on the thread pool: it only reads page tables, so it runs
 * while cr injects into the frozen process. The snapshot leaves out the pages its tracker
 * answers for (DirtyTracker.guardScope): all of a 1 GiB process took ~1.35 ms of the pool's time
 * inside each freeze, and lengthened a 1% increment's downtime by 0.8-0.9 ms on two cores.
 */
export async function scanGuards(pid: number, scope: PageRun[]): Promise<PageRun[]> {
  if (scope.length === 0 || !probeKernel().guardScan.available) return [];
  return guardRuns(await pagemapScanRangesAsync(pid, runRanges(scope), GUARD_SCAN));
}

/** scanGuards on this thread, for the few pages that must be scanned late in the freeze (write-protect.ts). */
export function scanGuardsNow(pid: number, scope: PageRun[]): PageRun[] {
  if (scope.length === 0 || !probeKernel().guardScan.available) return [];
  return guardRuns(pagemapScanRanges(pid, runRanges(scope), GUARD_SCAN));
}

const GUARD_SCAN = { writeProtect: false, categories: 0, categoryMask: 0, categoryAnyof: PAGE_IS_GUARD, returnMask: PAGE_IS_GUARD };

function guardRuns(found: BigUint64Array): PageRun[] {
  const guards = new RunList();
  for (let i = 0; i < found.length; i += 3) guards.add(Number(found[i]!), Number(found[i + 1]!));
  return guards.runs;
}

/**
 * Guard regions of shared mappings, which cr does not save: through a shmem object's mapping the
 * object's bytes under a guard page are unreadable (its pages are saved through the mapping), and
 * a shared file mapping's pages are the file's, not saved at all. Linux 6.15 allows them.
 */
export function sharedGuardProblems(pid: number, vmas: Vma[]): Problem[] {
  const shared = vmas.filter((v) => v.shared);
  if (shared.length === 0 || !probeKernel().guardScan.available) return [];
  const found = pagemapScanRanges(pid, vmaRanges(shared), GUARD_SCAN);
  const guarded = shared.filter((v) => {
    for (let i = 0; i < found.length; i += 3) if (found[i]! < v.end && found[i + 1]! > v.start) return true;
    return false;
  });
  return guarded.map((v) => ({
    resource: `mapping ${vmaRangeName(v)}`,
    kind: "guard-region",
    reason: "a guard region (MADV_GUARD_INSTALL) in a shared mapping: cr saves those of private mappings only",
  }));
}

/**
 * The memory attributes with their guard regions: those scanned, and those the tracker gives
 * for the pages it answers for, made when the image first reads them (after the thaw: a
 * tracker's answer for 20% of 1 GiB is ~40k runs).
 */
export function withGuards(settings: Omit<MemoryAttrsRecord, "guards">, scanned: PageRun[], vouched: () => PageRun[]): MemoryAttrsRecord {
  let guards: GuardRegion[] | undefined;
  return {
    ...settings,
    get guards() {
      return (guards ??= unionRuns(scanned, vouched()).map((r) => ({ start: r.start, end: runEnd(r) })));
    },
  };
}

// ================================================================ restart half

/**
 * Sets every saved attribute again, on mappings already filled and protected: madvise flags,
 * guard regions (installing one drops what the page held: nothing was saved there), mlock
 * (which faults in the filled pages), the process-wide settings (after every mapping cr makes
 * in the process: MCL_FUTURE would lock them), and seals last (a sealed mapping refuses some
 * of the above).
 */
export function restoreMappingAttrs(remote: Remote, vmas: VmaRecord[], attrs: MemoryAttrsRecord | undefined): void {
  const restored = vmas.filter(isRestoredMapping);
  for (const vma of restored) {
    const where = `0x${vma.start.toString(16)}-0x${vma.end.toString(16)}`;
    const len = vma.end - vma.start;
    for (const [flag, advice] of ADVICE) {
      if (vma.flags & flag) remote.call("madvise", [vma.start, len, MADV[advice]], `${advice} on ${where}`);
    }
    if (vma.flags & VmaFlags.LOCKED) remote.call("mlock2", [vma.start, len, vma.flags & VmaFlags.LOCKONFAULT ? MLOCK_ONFAULT : 0n], `locking ${where}`);
  }
  for (const guard of attrs?.guards ?? []) {
    remote.call("madvise", [guard.start, guard.end - guard.start, MADV.MADV_GUARD_INSTALL], `installing the guard region 0x${guard.start.toString(16)}-0x${guard.end.toString(16)}`);
  }
  const thp = BigInt(attrs?.thpDisable ?? 0);
  if (thp & 1n) remote.call("prctl", [PR_SET_THP_DISABLE, 1n, thp & ~1n, 0n, 0n], "PR_SET_THP_DISABLE");
  if (attrs?.memoryMerge) remote.call("prctl", [PR_SET_MEMORY_MERGE, 1n, 0n, 0n, 0n], "PR_SET_MEMORY_MERGE");
  if (attrs?.lockFuture) remote.call("mlockall", [BigInt(attrs.lockFuture)], "mlockall(MCL_FUTURE)");
  // No exec can be gained once MDWE is set: the restart adds no executable mapping after this.
  if (attrs?.mdwe) remote.call("prctl", [PR_SET_MDWE, BigInt(attrs.mdwe), 0n, 0n, 0n], "PR_SET_MDWE");
  for (const vma of restored.filter((v) => v.flags & VmaFlags.SEALED)) {
    remote.call("mseal", [vma.start, vma.end - vma.start, 0n], `sealing 0x${vma.start.toString(16)}`);
  }
}

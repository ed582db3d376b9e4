import { closeSync } from "node:fs";
import { alignedBuffer, type FillUffd, MM, NativeError, OPEN, openFillUffd, PAGE_IS_FILE, PAGE_IS_PRESENT, PAGE_IS_SWAPPED, PAGE_SIZE, PAGEMAP, pagemapScan, probeKernel, readMemory, readMemoryRanges, readPagemap, writeMemoryRanges } from "@cr/native";
import { holdsBytes, pagesWhere, VmaFlags, type ImageReader, type ResolvedChain, type VmaRecord } from "@cr/format";
import { blockUses, ChainBlocks, pagesPastBlock } from "../store/chain-blocks.js";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import type { OnProgress } from "../progress.js";
import { intersectRuns, pushRun, runEnd, RunIndex, runsToRanges, totalPages, type PageRun } from "../pages.js";
import { isSharedObjectMapping, objectKey, sharedObjectRuns, type RestoredObject } from "./shmem.js";
import { collectVmas, vmaPages, type Vma } from "./vmas.js";

/**
 * Memory, checkpoint half: which pages of which mappings an image carries.
 *
 * - anonymous pages that are present or swapped, and the COW'd pages of private file mappings:
 *   their bytes (DATA);
 * - untouched pages of file mappings, and every page of a shared one (written or not, it is the
 *   file's page cache): FILE (read again from the file at restart);
 *   (MADV_DONTDUMP mappings too: a core dump may leave them out, a restarted program still
 *   reads them, e.g. OpenSSL's secure heap);
 * - the pages a shared memory object (shared anonymous, memfd, tmpfs file: shmem.ts) holds
 *   under a shared mapping of it, whether the page tables map them or not: DATA;
 * - never-touched memory: nothing.
 */
export interface FileRun extends PageRun {
  /** Byte offset in the mapped file of the run's first page. */
  fileOffset: bigint;
}

export interface PagePlan {
  data: PageRun[];
  file: FileRun[];
}

/** Mappings whose contents belong in an image; the kernel's own and cr's trampoline do not. */
export function hasSavedPages(vma: Vma): boolean {
  return !vma.internal && !["vdso", "vvar", "vvar_vclock", "vsyscall"].includes(vma.kind) && !vma.flags.io && !vma.flags.pfnmap;
}

/** The page runs of every mapping whose contents an image holds. */
export function savedRuns(vmas: Vma[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const v of vmas.filter(hasSavedPages)) pushRun(runs, v.start, vmaPages(v));
  return runs;
}

/**
 * Sorts every page of `scope` (default: all saved mappings) into the plan, reading presence
 * from the frozen target. PAGEMAP_SCAN returns ranges and skips the per-page work; without it
 * (kernels before 6.7) /proc/PID/pagemap is read page by page.
 */
export function planPages(pid: number, vmas: Vma[], scope: PageRun[] = savedRuns(vmas)): PagePlan {
  const plan: PagePlan = { data: [], file: [] };
  const scan = probeKernel().writeProtectScan.available ? scanPresence : readPresence;
  const scoped = new RunIndex(scope); // a scope can be many runs (a shared object's holes), and a process many mappings
  for (const vma of vmas.filter(hasSavedPages)) {
    // A private mapping of a memfd shows its page cache like a file's: those pages are FILE.
    const isFile = vma.kind === "file" || vma.kind === "memfd";
    const parts = scoped.within({ start: vma.start, pages: vmaPages(vma) });
    if (isSharedObjectMapping(vma)) {
      // One look at the object for all the parts: they can be many (its holes, looked at again).
      if (parts.length > 0) for (const run of intersectRuns(sharedObjectRuns(pid, vma, spanOf(parts)), parts)) pushRun(plan.data, run.start, run.pages);
    } else {
      for (const part of parts) for (const found of scan(pid, part, isFile)) addRun(plan, vma, found);
    }
  }
  return plan;
}

/** From the first run's start to the last one's end. */
function spanOf(runs: PageRun[]): PageRun {
  const start = runs[0]!.start;
  return { start, pages: Number((runEnd(runs[runs.length - 1]!) - start) / BigInt(PAGE_SIZE)) };
}

/** A run of pages that are present or swapped; `file` when they are unmodified file pages. */
interface Presence extends PageRun {
  file: boolean;
}

function scanPresence(pid: number, run: PageRun, isFile: boolean): Presence[] {
  // Asking for PAGE_IS_FILE costs a page lookup per page: only file mappings need it.
  const returnMask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | (isFile ? PAGE_IS_FILE : 0);
  const triples = pagemapScan(pid, run.start, runEnd(run), { writeProtect: false, categories: 0, categoryMask: 0, categoryAnyof: PAGE_IS_PRESENT | PAGE_IS_SWAPPED, returnMask });
  const out: Presence[] = [];
  for (let i = 0; i < triples.length; i += 3) {
    const found = { start: triples[i]!, pages: Number((triples[i + 1]! - triples[i]!) / BigInt(PAGE_SIZE)) };
    const categories = Number(triples[i + 2]!);
    const file = (categories & PAGE_IS_FILE) !== 0;
    // "Swapped" also covers uffd-wp markers on pages that hold nothing: pagemap tells them apart.
    if (categories & PAGE_IS_PRESENT) out.push({ ...found, file });
    else out.push(...readPresence(pid, found, isFile));
  }
  return out;
}

// pagemap entry bits (PAGEMAP), tested in the high 32-bit word of each little-endian u64.
const highWord = (bit: bigint) => Number(bit >> 32n);
const PM_PRESENT = highWord(PAGEMAP.PM_PRESENT);
const PM_SWAP = highWord(PAGEMAP.PM_SWAP);
const PM_FILE = highWord(PAGEMAP.PM_FILE);
// Low word of a swap entry: its swap type, or SWP_PTE_MARKER for a marker that is no swap at all
// (uffd-wp on an empty page, a guard page). Visible to CAP_SYS_ADMIN; without it the type reads 0
// and a marker counts as swapped: its bytes are read, which is correct, only more.
const SWAP_TYPE_MASK = (1 << PAGEMAP.MAX_SWAPFILES_SHIFT) - 1;

function holdsPage(high: number, low: number): boolean {
  if (high & PM_PRESENT) return true;
  return (high & PM_SWAP) !== 0 && (low & SWAP_TYPE_MASK) !== PAGEMAP.SWP_PTE_MARKER;
}

function readPresence(pid: number, run: PageRun, isFile: boolean): Presence[] {
  const words = new Uint32Array(readPagemap(pid, run.start, runEnd(run)).buffer);
  const out: Presence[] = [];
  for (let i = 0; i < run.pages; i++) {
    const high = words[2 * i + 1]!;
    if (!holdsPage(high, words[2 * i]!)) continue;
    const file = isFile && (high & PM_FILE) !== 0;
    const last = out[out.length - 1];
    const start = run.start + BigInt(i * PAGE_SIZE);
    if (last && last.file === file && runEnd(last) === start) last.pages++;
    else out.push({ start, pages: 1, file });
  }
  return out;
}

function addRun(plan: PagePlan, vma: Vma, found: Presence): void {
  if (!found.file) pushRun(plan.data, found.start, found.pages);
  else plan.file.push({ start: found.start, pages: found.pages, fileOffset: vma.offset + (found.start - vma.start) });
}

/** The most memory cr holds for copying pages; larger changes are streamed (see checkpoint.ts). */
export const COPY_BUFFER_MAX_BYTES = 256 << 20;
let kept: Buffer | undefined;

/**
 * A buffer for `pages` pages with every page already faulted in, so the copy while the target
 * is frozen does not pay for page faults. Reused by the next snapshot in the same process
 * (`--interval`); never larger than COPY_BUFFER_MAX_BYTES.
 */
export function copyBuffer(pages: number): Buffer {
  const bytes = Math.min(pages * PAGE_SIZE, COPY_BUFFER_MAX_BYTES);
  if (!kept || kept.length < bytes) {
    kept = alignedBuffer(bytes); // huge pages: ~14 us a fault here
    kept.fill(0); // touches every page
  }
  return kept;
}

/**
 * Copies the given pages out of the (frozen) target into one buffer, in run order. A page
 * neither process_vm_readv nor /proc/PID/mem can read fails naming its mapping. `copyOf`: `pid`
 * is a frozen copy of that process, read unpinned (a pinned read would make the kernel copy
 * each page it shares with the process), and named in errors as that process.
 */
export function copyPages(pid: number, runs: PageRun[], into?: Buffer, copyOf?: number): Buffer {
  const buffer = bufferFor(runs, into);
  try {
    if (buffer.length > 0) readMemory(pid, runsToRanges(runs), buffer, copyOf !== undefined);
  } catch (error) {
    throw pageError(pid, copyOf, error);
  }
  return buffer;
}

/** copyPages on libuv's thread pool: this thread goes on while the pages are read. */
export async function readPages(pid: number, runs: PageRun[], into: Buffer, copyOf?: number): Promise<Buffer> {
  const buffer = bufferFor(runs, into);
  try {
    if (buffer.length > 0) await readMemoryRanges(pid, runsToRanges(runs), buffer, copyOf !== undefined);
  } catch (error) {
    throw pageError(pid, copyOf, error);
  }
  return buffer;
}

function bufferFor(runs: PageRun[], into: Buffer | undefined): Buffer {
  const bytes = totalPages(runs) * PAGE_SIZE;
  return into && into.length >= bytes ? into.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
}

/** A page that could not be read, named in the process it belongs to; other errors as they are. */
function pageError(pid: number, copyOf: number | undefined, error: unknown): unknown {
  if (error instanceof NativeError && error.code === "EFAULT" && error.address !== undefined) return unreadablePage(pid, copyOf ?? pid, error.address, error);
  return error;
}

function unreadablePage(pid: number, owner: number, address: bigint, cause: NativeError): CrError {
  const vma = collectVmas(pid).find((v) => v.start <= address && address < v.end);
  const where = vma ? `mapping ${vma.mapsLine.replace(/\s+/g, " ")}` : "no mapping";
  return new CrError(`cannot read page 0x${address.toString(16)} of process ${owner} (${where}): cr cannot save this memory; run cr check ${owner} and report it`, { code: "EFAULT", pid: owner, cause });
}

// ================================================================ restart half

/**
 * Memory, restart half: the stub's own mappings go, the kernel's vdso/vvar pages move to their
 * saved addresses, every saved mapping is created again at its address, and the image's page
 * data is written in: DATA runs from the image chain (resolveChain: each run names the image
 * and block that hold its bytes, so the cost does not depend on the chain's depth), FILE runs
 * and never-touched pages by mapping the file, ZERO runs and never-touched anonymous pages by
 * fresh anonymous memory.
 */

const { PROT_WRITE, MAP_SHARED, MAP_PRIVATE, MAP_DROPPABLE, MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_NORESERVE, MREMAP_MAYMOVE, MREMAP_FIXED } = MM;
const { O_RDONLY, O_RDWR, O_CLOEXEC, AT_FDCWD } = OPEN;

/** The kernel's own mappings: moved, never created. */
export const SPECIAL_MAPPINGS = ["[vdso]", "[vvar]", "[vvar_vclock]"];
const NOT_RESTORED = ["[vsyscall]"];

/** Whether `vma` is created by mapVmas (the kernel's own mappings are moved instead). */
export function isRestoredMapping(vma: VmaRecord): boolean {
  return !SPECIAL_MAPPINGS.includes(vma.name) && !NOT_RESTORED.includes(vma.name);
}

/**
 * A place for the trampoline (2 pages) that no saved mapping uses and the stub does not use
 * yet: the highest free gap below the saved mappings' top, away from its neighbours.
 */
export function trampolineAddress(saved: VmaRecord[], stub: { start: bigint; end: bigint }[]): bigint {
  const size = BigInt(2 * PAGE_SIZE);
  const taken = [...saved, ...stub].map((v) => ({ start: v.start, end: v.end })).sort((a, b) => (a.start < b.start ? -1 : 1));
  const gap = 16n * BigInt(PAGE_SIZE);
  for (let candidate = 0x10000000n; candidate < 0x7f0000000000n; candidate *= 2n) {
    if (taken.every((t) => candidate + size + gap <= t.start || candidate >= t.end + gap)) return candidate;
  }
  throw new CrError("no free address for the restore trampoline", { code: "NO_SPACE" });
}

/** Unmaps everything of the stub except the trampoline and the kernel's special mappings. */
export function clearStub(remote: Remote, trampoline: bigint): void {
  for (const vma of collectVmas(remote.pid)) {
    if (vma.start === trampoline || vma.start === trampoline + BigInt(PAGE_SIZE)) continue;
    if (vma.kind === "vdso" || vma.kind === "vvar" || vma.kind === "vvar_vclock" || vma.kind === "vsyscall") continue;
    remote.call("munmap", [vma.start, vma.end - vma.start], `unmapping the stub's ${vma.name || "mapping"} at 0x${vma.start.toString(16)}`);
  }
}

/**
 * Moves vdso, vvar and vvar_vclock to their saved addresses, keeping their layout (the vdso's
 * code finds its data pages by relative address). Where a destination overlaps a mapping not
 * moved yet, everything first moves to where the kernel finds room.
 */
export function moveSpecialMappings(remote: Remote, saved: VmaRecord[]): void {
  const wanted = new Map(saved.filter((v) => SPECIAL_MAPPINGS.includes(v.name)).map((v) => [v.name, v]));
  let current = collectVmas(remote.pid).filter((v) => SPECIAL_MAPPINGS.includes(`[${v.kind}]`));
  for (const vma of current) {
    const name = `[${vma.kind}]`;
    const target = wanted.get(name);
    if (!target) remote.call("munmap", [vma.start, vma.end - vma.start], `unmapping ${name}, which the image does not have`);
    else if (target.end - target.start !== vma.end - vma.start) {
      throw new CrError(`${name} has ${vma.end - vma.start} bytes here and ${target.end - target.start} in the image: a different kernel?`, { code: "KERNEL_MISMATCH", pid: remote.pid });
    }
  }
  current = current.filter((v) => wanted.has(`[${v.kind}]`));
  const overlaps = current.some((v) => [...wanted.values()].some((w) => w.start < v.end && v.start < w.end && w.start !== v.start));
  if (overlaps) {
    current = current.map((v) => {
      const moved = remote.call("mremap", [v.start, v.end - v.start, v.end - v.start, BigInt(MREMAP_MAYMOVE)], `moving [${v.kind}] out of the way`);
      return { ...v, end: moved + (v.end - v.start), start: moved };
    });
  }
  for (const vma of current) {
    const target = wanted.get(`[${vma.kind}]`)!;
    if (target.start === vma.start) continue;
    const len = vma.end - vma.start;
    remote.call("mremap", [vma.start, len, len, BigInt(MREMAP_MAYMOVE | MREMAP_FIXED), target.start], `moving [${vma.kind}] to 0x${target.start.toString(16)}`);
  }
}

/** Mappings that were given PROT_WRITE so their pages could be written. */
export type WritableAdded = VmaRecord[];

/**
 * Creates every saved mapping at its address; those of a shared memory object (shared anonymous
 * memory, a memfd, a tmpfs file) or of a deleted file from its descriptor in `objects`
 * (createSharedObjects, shmem-files.ts, ghost-files.ts), which are closed afterwards. A private
 * read-only mapping that is accounted (smaps "ac": it was writable once, e.g. relocated data)
 * gets PROT_WRITE for the time its pages are written, which accounts it again; protectVmas takes
 * PROT_WRITE away. One never writable keeps its protection, so it stays unaccounted: its pages
 * are written through /proc/PID/mem.
 */
export function mapVmas(remote: Remote, vmas: VmaRecord[], objects: ReadonlyMap<string, RestoredObject>): WritableAdded {
  const added: VmaRecord[] = [];
  const files = new Map<string, bigint>();
  try {
    for (const vma of vmas.filter(isRestoredMapping)) {
      const shared = (vma.flags & VmaFlags.SHARED) !== 0;
      const object = objects.get(objectKey(vma));
      // Writable while filled: an accounted private mapping (see above), and shared memory, whose
      // read-only pages /proc/PID/mem cannot write either (but a memfd sealed against writes: its
      // data is in, and the kernel refuses it).
      const prot = (!shared && vma.flags & VmaFlags.ACCOUNT) || (shared && object?.filledThroughMappings) ? vma.prot | PROT_WRITE : vma.prot;
      if (prot !== vma.prot) added.push(vma);
      let flags = (shared ? MAP_SHARED : vma.flags & VmaFlags.DROPPABLE ? MAP_DROPPABLE : MAP_PRIVATE) | MAP_FIXED;
      if (vma.flags & VmaFlags.GROWSDOWN) flags |= MAP_GROWSDOWN;
      if (vma.flags & VmaFlags.NORESERVE) flags |= MAP_NORESERVE;
      const where = `mapping 0x${vma.start.toString(16)}-0x${vma.end.toString(16)}${vma.path ? ` of ${vma.path}` : ""}`;
      const writable = shared && ((vma.prot & PROT_WRITE) !== 0 || (vma.flags & VmaFlags.MAYWRITE) !== 0);
      let fd = -1n;
      // A shared mapping of a read-only open may never be made writable: it gets a read-only open of the object.
      if (object && shared && !writable && !object.filledThroughMappings) fd = openForMapping(remote, files, `/proc/self/fd/${object.fd}`, false);
      else if (object) fd = object.fd;
      else if (vma.path) fd = openForMapping(remote, files, vma.path, writable);
      else flags |= MAP_ANONYMOUS;
      remote.call("mmap", [vma.start, vma.end - vma.start, BigInt(prot), BigInt(flags), BigInt.asUintN(64, fd), fd >= 0n ? vma.pgoff : 0n], where);
    }
  } finally {
    for (const fd of files.values()) remote.call("close", [fd], "closing a mapped file");
    for (const { fd } of objects.values()) remote.call("close", [fd], "closing a shared memory object");
  }
  return added;
}

function openForMapping(remote: Remote, files: Map<string, bigint>, path: string, write: boolean): bigint {
  const key = `${write ? "w" : "r"}:${path}`;
  const open = files.get(key);
  if (open !== undefined) return open;
  const fd = remote.call("openat", [AT_FDCWD, remote.putString(path), BigInt((write ? O_RDWR : O_RDONLY) | O_CLOEXEC), 0n], `opening ${path} to map it`);
  files.set(key, fd);
  return fd;
}

/** Takes away the PROT_WRITE that mapVmas added. */
export function protectVmas(remote: Remote, added: WritableAdded): void {
  for (const vma of added) {
    remote.call("mprotect", [vma.start, vma.end - vma.start, BigInt(vma.prot)], `protecting 0x${vma.start.toString(16)}`);
  }
}

/** Bytes written per process_vm_writev batch: large calls, bounded memory. */
const FILL_BATCH = 8 << 20;

/**
 * A batch of page bytes and the target ranges they go to (adjacent runs merged: addresses as
 * numbers, exact for page-aligned values); `writing` while the pool writes it. Most bytes are
 * not copied in here by this thread: `copies` says where in the read-ahead memory they are,
 * and the pool copies them in before writing (`mark`: the blocks it needs are held till then).
 */
interface FillBatch {
  bytes: Buffer;
  used: number;
  starts: number[];
  lengths: number[];
  copies: Float64Array;
  copyCount: number;
  mark: number;
  writing?: Promise<number>;
}

function fillBatch(): FillBatch {
  const copies = new Float64Array((3 * FILL_BATCH) / PAGE_SIZE);
  return { bytes: alignedBuffer(FILL_BATCH), used: 0, starts: [], lengths: [], copies, copyCount: 0, mark: 0 };
}

/**
 * Writes every DATA run into the target, reading each block once (ChainBlocks; its hash is
 * checked as it is read), in batches of up to 8 MiB. Two batches take turns: the pool gathers
 * and writes one while this thread plans the next, and the disk reads further ahead.
 * Anonymous mappings are filled by UFFDIO_COPY (about 0.25 s/GiB here, where faulting zeroed
 * pages in under process_vm_writev takes 0.4-0.6 s); file mappings by process_vm_writev.
 */
export async function fillMemory(pid: number, chain: ResolvedChain, open: (crid: bigint) => ImageReader, vmas: VmaRecord[], onProgress?: OnProgress): Promise<number> {
  const uffd = fillUffd(pid, vmas);
  try {
    return await new Fill(pid, chain, open, uffd, onProgress).run();
  } finally {
    if (uffd) closeSync(uffd.fd); // unregisters: untouched pages fault in as zero again
  }
}

/** A fill uffd over the anonymous mappings; none where the kernel lacks one (pages then fault in). */
function fillUffd(pid: number, vmas: VmaRecord[]): FillUffd | undefined {
  // Shared memory is not: its pages are the object's, written through the mapping.
  const anonymous = vmas.filter((v) => isRestoredMapping(v) && !v.path && !(v.flags & VmaFlags.SHARED));
  try {
    return openFillUffd(pid, BigUint64Array.from(anonymous.flatMap((v) => [v.start, v.end])));
  } catch (error) {
    if (error instanceof NativeError && ["ENOSYS", "EINVAL", "EPERM", "EACCES"].includes(error.code)) return undefined;
    throw error;
  }
}

class Fill {
  private readonly batches = [fillBatch(), fillBatch()];
  private batch = this.batches[0]!;
  private written = 0;
  /** Bytes the fill writes in all: the pages the map puts in PAGES blocks. */
  private readonly total: number;
  private readonly blocks: ChainBlocks;
  /** The read-ahead memory most blocks are views of (ChainBlocks.memory), fixed for the fill. */
  private readonly memory: Buffer | undefined;
  /** Per holder: the block its runs come from now (-1: none yet) and that block's bytes. */
  private readonly holderBlock: Float64Array;
  private readonly holderBytes: Uint8Array[] = [];

  constructor(
    private readonly pid: number,
    private readonly chain: ResolvedChain,
    private readonly open: (crid: bigint) => ImageReader,
    private readonly uffd: FillUffd | undefined,
    private readonly onProgress: OnProgress | undefined,
  ) {
    this.blocks = new ChainBlocks(open, blockUses(chain.map, chain.crids, holdsBytes), { holdTaken: true });
    this.memory = this.blocks.memory;
    this.holderBlock = new Float64Array(chain.crids.length).fill(-1);
    this.total = pagesWhere(chain.map, holdsBytes) * PAGE_SIZE;
  }

  async run(): Promise<number> {
    try {
      await this.fillRuns();
      await this.flush(); // the last batch goes out...
      await this.flush(); // ...and is waited for
    } finally {
      // Nothing may still be writing from a batch when this returns, even after a failure.
      await Promise.allSettled(this.batches.map((b) => b.writing));
      await this.blocks.close();
    }
    return this.written;
  }

  /** Each run into the batch: planned as a copy out of the read-ahead memory where it is there. */
  private async fillRuns(): Promise<void> {
    const { map, crids } = this.chain;
    for (let i = 0; i < map.length; i++) {
      if (!holdsBytes(map.source[i]!)) continue;
      const holder = map.holder[i]!;
      const block = map.block[i]!;
      const bytes = map.pages[i]! * PAGE_SIZE;
      const start = map.first[i]! * PAGE_SIZE;
      if (bytes > FILL_BATCH) throw new CrError(`a page run of ${bytes} bytes at 0x${start.toString(16)}: more than one batch`, { code: "UNSUPPORTED", crid: crids[holder] });
      if (this.batch.used + bytes > FILL_BATCH) await this.flush();
      if (this.holderBlock[holder] !== block) await this.load(holder, block);
      const data = this.holderBytes[holder]!;
      const from = map.firstPage[i]! * PAGE_SIZE;
      if (from + bytes > data.byteLength) {
        const crid = crids[holder]!;
        throw pagesPastBlock(this.open(crid).path, crid, block, map.firstPage[i]!, bytes / PAGE_SIZE, data.byteLength / PAGE_SIZE);
      }
      this.add(data, from, bytes);
      addRange(this.batch, start, bytes);
    }
  }

  /** Makes `block` the holder's current one; waits for batches to be written if its read needs their slots. */
  private async load(holder: number, block: number): Promise<void> {
    const crid = this.chain.crids[holder]!;
    for (let n = 0; n < 2 && this.blocks.waitsForSlot(crid, block); n++) await this.flush();
    this.holderBytes[holder] = await this.blocks.whole(crid, block);
    this.holderBlock[holder] = block;
  }

  private add(data: Uint8Array, from: number, bytes: number): void {
    const batch = this.batch;
    const memory = this.memory;
    if (memory?.buffer !== data.buffer) {
      batch.bytes.set(data.subarray(from, from + bytes), batch.used);
      return;
    }
    const source = data.byteOffset - memory.byteOffset + from;
    const c = batch.copies;
    const last = 3 * (batch.copyCount - 1);
    // Runs that continue each other in the block and in the batch are one copy.
    if (last >= 0 && c[last]! + c[last + 2]! === source && c[last + 1]! + c[last + 2]! === batch.used) c[last + 2]! += bytes;
    else {
      c[last + 3] = source;
      c[last + 4] = batch.used;
      c[last + 5] = bytes;
      batch.copyCount++;
    }
  }

  /** Hands the batch to the pool and waits for the other one (the blocks it held are free then). */
  private async flush(): Promise<void> {
    const batch = this.batch;
    if (batch.used > 0) {
      const ranges = BigUint64Array.from(batch.starts.flatMap((start, i) => [BigInt(start), BigInt(batch.lengths[i]!)]));
      const gather = this.memory && { source: this.memory, copies: batch.copies.subarray(0, 3 * batch.copyCount) };
      batch.mark = this.blocks.mark();
      batch.writing = writeMemoryRanges(this.pid, ranges, batch.bytes.subarray(0, batch.used), this.uffd, gather);
      // A failure surfaces when the batch is settled; until then it is not unhandled.
      batch.writing.catch(() => undefined);
    }
    this.batch = batch === this.batches[0] ? this.batches[1]! : this.batches[0]!;
    this.written += await this.settle(this.batch);
    this.onProgress?.(this.written, this.total, "filling memory");
  }

  /** Waits for the batch's write, if any, releases what it held and empties it; returns the bytes it wrote. */
  private async settle(batch: FillBatch): Promise<number> {
    const done = batch.writing ? await batch.writing : 0;
    if (batch.writing) this.blocks.release(batch.mark);
    batch.writing = undefined;
    batch.used = 0;
    batch.starts = [];
    batch.lengths = [];
    batch.copyCount = 0;
    return done;
  }
}

function addRange(batch: FillBatch, start: number, bytes: number): void {
  const last = batch.starts.length - 1;
  if (last >= 0 && batch.starts[last]! + batch.lengths[last]! === start) batch.lengths[last]! += bytes;
  else {
    batch.starts.push(start);
    batch.lengths.push(bytes);
  }
  batch.used += bytes;
}

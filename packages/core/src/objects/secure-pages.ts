import { NativeError, PAGE_SIZE, secureWritten } from "@cr/native";
import { COPY_BUFFER_MAX_BYTES, copyPages, readPages } from "./memory.js";
import { FrozenCopy } from "../process/frozen-copy.js";
import { bounds, firstEndingAfter, intersectRuns, pushRun, runRanges, totalPages, type PageRun } from "../pages.js";
import { CrError } from "../errors.js";
import type { PendingScan } from "../trackers/index.js";
import type { PagePlan } from "./memory.js";
import type { Vma } from "./vmas.js";

/**
 * Securing the changed pages of a frozen tree before it is thawed (docs/checkpoint.md, steps 6
 * and 7): each member's pages are either copied into cr's buffer, or left in a frozen copy of
 * the member (copy-on-write, process/frozen-copy.ts) and read from it after the thaw, whichever
 * costs the member the shorter freeze. Beyond the copy budget, and with nothing to fork, they are
 * read from the frozen member itself while the image is written, and the thaw waits for that.
 */

/**
 * The bytes of `runs`, which are the data pages of a member's plan from page index `first` on
 * (at most a block): read into `into` (on the thread pool) where the source reads them.
 */
export type PageSource = (runs: PageRun[], first: number, into: Buffer) => Promise<Buffer>;

/** One frozen member: its mappings and the pages its image holds. */
export interface FrozenPages {
  pid: number;
  leader: number;
  vmas: Vma[];
  /** The pages its image holds (plan.data), planned when first called: only when needed while frozen. */
  data(): PageRun[];
  /** How many pages `data` holds, where known without it (MemoryPlan.changedPages): enough to decide on a frozen copy. */
  changedPages?: number;
  /**
   * Whether a frozen copy may be made: not where the copy, an orphan, would go to a member of
   * the tree (a child subreaper: the member or one of its ancestors in the tree), which its
   * death would tell of a child it never had.
   */
  forkable: boolean;
  /** Its tracker's scan, left to this step, and the plan of its pages outside it (MemoryPlan.pending). */
  pending?: { scan: PendingScan; unscanned: () => PagePlan };
}

/** How pages are secured: by cost (auto), always copied, or always in a frozen copy where one can be made. */
export type SecureChoice = "auto" | "copy" | "fork";

export interface SecuredPages {
  /** Per member, in order: where its pages are read from while the image is written. */
  sources: PageSource[];
  /** Per member: the process whose pagemap still shows the freeze, its frozen copy or itself (the tree is frozen until `data` is planned). */
  pagemapOf: number[];
  /** How many members' pages are read from a frozen copy. */
  frozenCopies: number;
  /** Per member: the page faults of its frozen copy's go-between, which it reaped (FrozenCopy.reapedFaults); 0 without one. */
  reapedFaults: bigint[];
  /** Whether the tree may be thawed now (false: some pages are still read from it). */
  thawable: boolean;
  /** Whether it was, with the copy (copyWrittenAndThaw). */
  thawed: boolean;
  /** Once the members' plans are made (after the thaw): checks that they hold the pages copied before it. */
  confirmPlans(): void;
  /** Kills the frozen copies (after the image is written, or failed); resolves once they are gone. Never rejects. */
  release(): Promise<void>;
}

/**
 * The freeze a copy costs per page (process_vm_readv of scattered pages into a faulted-in buffer),
 * and a fork per resident page of private memory (copying its page tables and write-protecting
 * the parent's) plus its fixed part (the injections that make the go-between and the copy):
 * measured on this machine, rows "copy while frozen" and "frozen copy (fork)" of `pnpm bench snapshot`.
 */
export const COPY_US_PER_PAGE = 1.1;
export const FORK_US_PER_RESIDENT_PAGE = 0.12;
export const FORK_FIXED_US = 1500;
const COPY_BUDGET_PAGES = COPY_BUFFER_MAX_BYTES / PAGE_SIZE;

/** Whether a frozen copy stops `member` for less time than copying its pages would. */
function forkIsCheaper(member: FrozenPages): boolean {
  return changedPages(member) > forkBreakEven(member.vmas);
}

/** Pages of `member` to save: counted exactly where the plan is made while frozen anyway (notInCopy). */
function changedPages(member: FrozenPages): number {
  return member.changedPages !== undefined && notInCopyRuns(member.vmas).length === 0 ? member.changedPages : totalPages(member.data());
}

/**
 * Whether a frozen copy will take the pages of a process with these mappings and this many
 * changed pages (MemoryPlan.changedPages), its plan then made after the thaw.
 */
export function forkTakesAll(vmas: Vma[], changedPages: number | undefined): boolean {
  return changedPages !== undefined && notInCopyRuns(vmas).length === 0 && changedPages > forkBreakEven(vmas);
}

/** The changed pages beyond which a frozen copy of a process with these mappings is cheaper than a copy. */
export function forkBreakEven(vmas: Vma[]): number {
  const resident = vmas.filter((v) => !v.flags.shared).reduce((sum, v) => sum + Number(v.rss), 0) / PAGE_SIZE;
  return (resident * FORK_US_PER_RESIDENT_PAGE + FORK_FIXED_US) / COPY_US_PER_PAGE;
}

/**
 * The pages of `member` a frozen copy does not hold as they are now: shared mappings (the copy
 * shares their pages, and sees the member's later writes), MADV_DONTFORK (absent from the copy)
 * and MADV_WIPEONFORK ones (zero in the copy). They are copied before the thaw.
 */
export function notInCopy(member: FrozenPages): PageRun[] {
  const runs = notInCopyRuns(member.vmas);
  return runs.length > 0 ? intersectRuns(member.data(), runs) : []; // none: planned after the thaw, from the copy
}

function notInCopyRuns(vmas: Vma[]): PageRun[] {
  const runs: PageRun[] = [];
  for (const v of vmas) {
    if (v.flags.shared || v.flags.dontCopy || v.flags.wipeOnFork) pushRun(runs, v.start, Number((v.end - v.start) / BigInt(PAGE_SIZE)));
  }
  return runs;
}

/**
 * Secures every member's pages: where each tracker left its scan pending, the scans, the copy
 * and the thaw in one native call if every member's pages are to be copied (copyWrittenAndThaw);
 * else forks a frozen copy of each member for which that is cheaper (or `choice` says so; never
 * when the tree stays frozen anyway, `keepFrozen`), copies the rest into `buffer` (or a new one)
 * within the copy budget, and streams them from the frozen tree beyond it. `thawOrder`: the
 * tree's threads, in the order they are let go.
 */
export function securePages(members: FrozenPages[], buffer: Buffer | undefined, keepFrozen: boolean, choice: SecureChoice, thawOrder: number[]): SecuredPages {
  const copied = !keepFrozen && choice !== "fork" && buffer ? copyWrittenAndThaw(members, buffer, choice, thawOrder) : undefined;
  return copied ?? secureScanned(members, buffer, keepFrozen, choice);
}

/**
 * The scans the members' trackers left pending (FrozenPages.pending), the copy of what they find
 * written with the rest of each plan (planned now, before the scans), and the thaw, in one native
 * call (secureWritten): nothing runs here between the re-arm and the thaw. Only when every
 * member's pages are to be copied (within its fork's break-even with `auto`, and the copy budget)
 * and fit `buffer`; undefined otherwise, the scans run and the tree still frozen.
 */
function copyWrittenAndThaw(members: FrozenPages[], buffer: Buffer, choice: SecureChoice, thawOrder: number[]): SecuredPages | undefined {
  const pending = members.map((m) => m.pending);
  if (pending.some((p) => !p)) return undefined;
  const copyAtMost = (m: FrozenPages) => (choice === "auto" && m.forkable ? Math.min(COPY_BUDGET_PAGES, Math.floor(forkBreakEven(m.vmas))) : COPY_BUDGET_PAGES);
  const asked = members.map((m, i) => ({ pid: m.pid, armed: pending[i]!.scan.armed, unarmed: pending[i]!.scan.unarmed, extra: runRanges(pending[i]!.unscanned().data), copyAtMost: copyAtMost(m) }));
  const { scans, copied, bytes } = secureWritten(asked, pending[0]!.scan.returnMask, buffer, thawOrder);
  pending.forEach((p, i) => p!.scan.settle(scans[i]!));
  if (!copied) return undefined;
  let offset = 0;
  const data = members.map((_, i) => buffer.subarray(offset, (offset += bytes[i]!)));
  const confirmPlans = () => members.forEach((m, i) => plannedAsCopied(m, bytes[i]!));
  return noFrozenCopies(members, { sources: data.map(bufferedSource), thawable: true, thawed: true, confirmPlans });
}

/** The plan made after the thaw must hold the pages copied before it: the same pages, both in address order. */
function plannedAsCopied(member: FrozenPages, copiedBytes: number): void {
  const planned = totalPages(member.data()) * PAGE_SIZE;
  if (planned !== copiedBytes) throw new CrError(`process ${member.pid}: ${copiedBytes} bytes of pages copied in the freeze, but its plan holds ${planned}: report this`, { code: "INTERNAL", pid: member.pid });
}

/** securePages once the scans ran, the tree frozen. */
function secureScanned(members: FrozenPages[], buffer: Buffer | undefined, keepFrozen: boolean, choice: SecureChoice): SecuredPages {
  const wanted = (m: FrozenPages) => !keepFrozen && m.forkable && changedPages(m) > 0 && (choice === "fork" || (choice === "auto" && forkIsCheaper(m)));
  const fits = (copied: PageRun[][]) => copied.reduce((sum, runs) => sum + totalPages(runs), 0) <= COPY_BUDGET_PAGES;
  if (!fits(members.map((m) => (wanted(m) ? notInCopy(m) : m.data())))) return streamed(members); // the tree stays frozen anyway: no fork
  const copies = members.map((m) => (wanted(m) ? forkOrUndefined(m) : undefined));
  const dropAll = async () => {
    await Promise.all(copies.map((copy) => copy?.drop()));
  };
  try {
    const copied = members.map((m, i) => (copies[i] ? notInCopy(m) : m.data()));
    if (!fits(copied)) {
      void dropAll(); // a fork failed, and copying that member whole is beyond the budget
      return streamed(members);
    }
    const bytes = totalPages(copied.flat()) * PAGE_SIZE;
    const into = buffer && buffer.length >= bytes ? buffer : Buffer.allocUnsafe(bytes);
    let offset = 0;
    const data = members.map((m, i) => {
      const pages = copyPages(m.pid, copied[i]!, into.subarray(offset));
      offset += pages.length;
      return pages;
    });
    const sources = members.map((m, i) => (copies[i] ? copyOnWriteSource(copies[i]!.pid, copied[i]!, data[i]!, m.pid) : bufferedSource(data[i]!)));
    const pagemapOf = members.map((m, i) => copies[i]?.pid ?? m.pid);
    return { sources, pagemapOf, frozenCopies: copies.filter((c) => c).length, reapedFaults: copies.map((c) => c?.reapedFaults ?? 0n), thawable: true, thawed: false, confirmPlans: () => {}, release: dropAll };
  } catch (error) {
    void dropAll();
    throw error;
  }
}

/** Every member's pages read from the frozen member itself while the image is written: the thaw waits for it. */
function streamed(members: FrozenPages[]): SecuredPages {
  return noFrozenCopies(members, { sources: members.map((m) => streamedSource(m.pid)), thawable: false, thawed: false, confirmPlans: () => {} });
}

/** Secured pages of which no frozen copy holds any: each member's pagemap is its own, and there is nothing to release. */
function noFrozenCopies(members: FrozenPages[], secured: Pick<SecuredPages, "sources" | "thawable" | "thawed" | "confirmPlans">): SecuredPages {
  return { ...secured, pagemapOf: members.map((m) => m.pid), frozenCopies: 0, reapedFaults: members.map(() => 0n), release: async () => {} };
}

/** A frozen copy of the member, or undefined where the kernel will not make one (memory, process limits). */
function forkOrUndefined(member: FrozenPages): FrozenCopy | undefined {
  try {
    return FrozenCopy.fork(member.leader);
  } catch (error) {
    if (error instanceof NativeError && ["ENOMEM", "EAGAIN"].includes(error.code)) return undefined; // copied instead
    throw error;
  }
}

function bufferedSource(data: Buffer): PageSource {
  return async (runs, first) => data.subarray(first * PAGE_SIZE, (first + totalPages(runs)) * PAGE_SIZE);
}

/** Reads each block from the frozen member when it is written. */
function streamedSource(pid: number): PageSource {
  return (runs, _first, into) => readPages(pid, runs, into);
}

/** Pages per PAGES block: large enough for fast I/O, small enough to read back one at a time. */
export const BLOCK_PAGES = 256;

/**
 * Reads each block from the frozen copy `copy` of `pid`, but the pages in `kept` (notInCopy,
 * copied before the thaw, in run order in `keptBytes`) from there. The pages read from the copy
 * land together at the block's start, and move to their places from the last on (each moves
 * forward by the kept bytes before it), then the kept ones fill the gaps.
 */
function copyOnWriteSource(copy: number, kept: PageRun[], keptBytes: Buffer, pid: number): PageSource {
  const keptPages = new KeptPages(kept);
  return async (runs, _first, into) => {
    const out = into.subarray(0, totalPages(runs) * PAGE_SIZE);
    const pieces = keptPages.split(runs);
    const fromCopy = pieces.filter((p) => p.keptAt < 0);
    if (fromCopy.length === pieces.length) return readPages(copy, runs, out, pid);
    if (fromCopy.length > 0) await readPages(copy, fromCopy, out, pid);
    let read = totalPages(fromCopy) * PAGE_SIZE;
    let at = out.length;
    for (let i = pieces.length - 1; i >= 0; i--) {
      const { pages, keptAt } = pieces[i]!;
      const length = pages * PAGE_SIZE;
      at -= length;
      if (keptAt >= 0) {
        keptBytes.copy(out, at, keptAt, keptAt + length);
      } else {
        read -= length;
        out.copyWithin(at, read, read + length);
      }
    }
    return out;
  };
}

/** A piece of a block's runs: its bytes at `keptAt` of the kept bytes, or (-1) in the frozen copy. */
interface Piece extends PageRun {
  keptAt: number;
}

/** The kept runs (sorted), as numbers, and where each one's bytes begin among the kept bytes. */
class KeptPages {
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly offsets: Float64Array;

  constructor(kept: PageRun[]) {
    ({ starts: this.starts, ends: this.ends } = bounds(kept));
    this.offsets = new Float64Array(kept.length);
    for (let i = 1; i < kept.length; i++) this.offsets[i] = this.offsets[i - 1]! + kept[i - 1]!.pages * PAGE_SIZE;
  }

  /** `runs` (sorted) cut where they enter and leave the kept runs, in order: linear in the block, not in what is kept. */
  split(runs: PageRun[]): Piece[] {
    const pieces: Piece[] = [];
    let j = firstEndingAfter(this.ends, runs.length > 0 ? Number(runs[0]!.start) : 0);
    for (const run of runs) {
      let cursor = Number(run.start);
      const end = cursor + run.pages * PAGE_SIZE;
      const piece = (from: number, to: number, keptAt: number) => pieces.push({ start: BigInt(from), pages: (to - from) / PAGE_SIZE, keptAt }); // exact: pages.ts
      while (j < this.starts.length && this.ends[j]! <= cursor) j++;
      for (; j < this.starts.length && this.starts[j]! < end; j++) {
        if (this.starts[j]! > cursor) piece(cursor, this.starts[j]!, -1);
        const from = Math.max(cursor, this.starts[j]!);
        const to = Math.min(end, this.ends[j]!);
        piece(from, to, this.offsets[j]! + from - this.starts[j]!);
        cursor = to;
        if (this.ends[j]! > end) break; // the kept run goes on into the next run
      }
      if (cursor < end) piece(cursor, end, -1);
    }
    return pieces;
  }
}

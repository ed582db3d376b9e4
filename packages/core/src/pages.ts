import { PAGE_SIZE } from "@cr/native";

/**
 * Page runs: [start, start + pages * pageSize) address ranges, the unit in which the checkpoint
 * engine and the trackers talk about memory. Runs in a list are sorted and do not overlap.
 */
export interface PageRun {
  start: bigint;
  pages: number;
}

const PAGE = BigInt(PAGE_SIZE);

export function runEnd(run: PageRun): bigint {
  return run.start + BigInt(run.pages) * PAGE;
}

export function totalPages(runs: PageRun[]): number {
  return runs.reduce((sum, r) => sum + r.pages, 0);
}

/** Appends a run, merging it into the last one when they touch. */
export function pushRun(runs: PageRun[], start: bigint, pages: number): void {
  const last = runs[runs.length - 1];
  if (last && runEnd(last) === start) last.pages += pages;
  else runs.push({ start, pages });
}

/*
 * The algebra below works on addresses as numbers, not bigints: a change of 40k scattered pages
 * goes through it several times while the target is frozen, and bigint arithmetic made that
 * cost tens of milliseconds. A page-aligned address below 2^65 has at most 53 significant bits,
 * so a number holds it, and every sum of two of them here, exactly.
 */

/**
 * Builds a sorted run list from numeric [start, end) pieces, merging pieces that touch. A run
 * of an input list that passes through whole is kept, not copied (no run object is changed
 * after its list is built, but the last one of a list being built).
 */
export class RunList {
  readonly runs: PageRun[] = [];
  private end = -1;
  /** The last run is an input list's (keep): copied before it grows. */
  private lastKept = false;

  /** `bigStart`: `start` as a bigint, when the caller has it (making one is the dear part). */
  add(start: number, end: number, bigStart?: bigint): void {
    if (start === this.end) this.grow(end);
    else {
      this.runs.push({ start: bigStart ?? BigInt(start), pages: (end - start) / PAGE_SIZE });
      this.lastKept = false;
    }
    this.end = end;
  }

  /** Appends `run`, which spans [start, end), as it is. */
  keep(run: PageRun, start: number, end: number): void {
    if (start === this.end) this.grow(end);
    else {
      this.runs.push(run);
      this.lastKept = true;
    }
    this.end = end;
  }

  /** A list that goes on apart from this one, holding the same runs so far. */
  copy(): RunList {
    const copy = new RunList();
    for (const run of this.runs) copy.runs.push({ start: run.start, pages: run.pages });
    copy.end = this.end;
    return copy;
  }

  private grow(end: number): void {
    const last = this.runs.length - 1;
    if (this.lastKept) this.runs[last] = { ...this.runs[last]! };
    this.lastKept = false;
    this.runs[last]!.pages += (end - this.end) / PAGE_SIZE;
  }
}

/** Each run's start and end as numbers, in two arrays. */
export function bounds(runs: PageRun[]): { starts: Float64Array; ends: Float64Array } {
  const starts = new Float64Array(runs.length);
  const ends = new Float64Array(runs.length);
  for (let i = 0; i < runs.length; i++) {
    starts[i] = Number(runs[i]!.start);
    ends[i] = starts[i]! + runs[i]!.pages * PAGE_SIZE;
  }
  return { starts, ends };
}

/** The parts of `runs` that lie inside `within` (both sorted). */
export function intersectRuns(runs: PageRun[], within: PageRun[]): PageRun[] {
  if (runs.length === 0 || within.length === 0) return [];
  const out = new RunList();
  const r = bounds(runs);
  const w = bounds(within);
  let j = 0;
  for (let i = 0; i < runs.length; i++) {
    const start = r.starts[i]!;
    const end = r.ends[i]!;
    while (j < within.length && w.ends[j]! <= start) j++;
    for (let k = j; k < within.length && w.starts[k]! < end; k++) {
      const lo = Math.max(start, w.starts[k]!);
      const hi = Math.min(end, w.ends[k]!);
      if (hi > lo) out.add(lo, hi, lo === start ? runs[i]!.start : undefined);
    }
  }
  return out.runs;
}

/** A sorted run list to ask for its parts within one range at a time: logarithmic in its length, not linear (intersectRuns). */
export class RunIndex {
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;

  constructor(private readonly runs: PageRun[]) {
    ({ starts: this.starts, ends: this.ends } = bounds(runs));
  }

  /** The parts of the runs inside `range`, as intersectRuns(runs, [range]) gives them. */
  within(range: PageRun): PageRun[] {
    const lo = Number(range.start);
    const hi = lo + range.pages * PAGE_SIZE;
    const out = new RunList();
    for (let i = firstEndingAfter(this.ends, lo); i < this.runs.length && this.starts[i]! < hi; i++) {
      const start = Math.max(this.starts[i]!, lo);
      out.add(start, Math.min(this.ends[i]!, hi), start === this.starts[i] ? this.runs[i]!.start : undefined);
    }
    return out.runs;
  }
}

/** The index of the first of ascending `ends` above `address` (ends.length: none is). */
export function firstEndingAfter(ends: Float64Array, address: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ends[mid]! <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The parts of `runs` that lie outside `minus` (both sorted). */
export function subtractRuns(runs: PageRun[], minus: PageRun[]): PageRun[] {
  if (minus.length === 0) return runs.map((r) => ({ start: r.start, pages: r.pages }));
  const out = new RunList();
  const r = bounds(runs);
  const m = bounds(minus);
  let j = 0;
  for (let i = 0; i < runs.length; i++) {
    const start = r.starts[i]!;
    let cursor = start;
    const end = r.ends[i]!;
    while (j < minus.length && m.ends[j]! <= cursor) j++;
    for (let k = j; k < minus.length && m.starts[k]! < end; k++) {
      if (m.starts[k]! > cursor) out.add(cursor, m.starts[k]!, cursor === start ? runs[i]!.start : undefined);
      if (m.ends[k]! > cursor) cursor = m.ends[k]!;
    }
    if (cursor < end) out.add(cursor, end, cursor === start ? runs[i]!.start : undefined);
  }
  return out.runs;
}

/** Sorted, merged union of two sorted run lists, in one pass. */
export function unionRuns(a: PageRun[], b: PageRun[]): PageRun[] {
  const out = new RunList();
  const x = bounds(a);
  const y = bounds(b);
  let i = 0;
  let j = 0;
  let start = -1;
  let end = -1;
  let first: PageRun | undefined; // the run the current one began with
  let alone = false; // and nothing merged into it: it is kept as it is
  const emit = () => (alone ? out.keep(first!, start, end) : out.add(start, end, first!.start));
  while (i < a.length || j < b.length) {
    const fromA = j >= b.length || (i < a.length && x.starts[i]! <= y.starts[j]!);
    const next = fromA ? a[i]! : b[j]!;
    const nextStart = fromA ? x.starts[i]! : y.starts[j]!;
    const nextEnd = fromA ? x.ends[i++]! : y.ends[j++]!;
    if (start >= 0 && nextStart <= end) {
      if (nextEnd > end) end = nextEnd;
      alone = false;
      continue;
    }
    if (start >= 0) emit();
    start = nextStart;
    end = nextEnd;
    first = next;
    alone = true;
  }
  if (start >= 0) emit();
  return out.runs;
}

/** Runs as (start, end) pairs, the shape PAGEMAP_SCAN wants. */
export function runRanges(runs: PageRun[]): BigUint64Array {
  const ranges = new BigUint64Array(runs.length * 2);
  runs.forEach((run, i) => {
    ranges[2 * i] = run.start;
    ranges[2 * i + 1] = runEnd(run);
  });
  return ranges;
}

/** Runs as (address, length) pairs, the shape process_vm_readv wants. */
export function runsToRanges(runs: PageRun[]): BigUint64Array {
  const ranges = new BigUint64Array(runs.length * 2);
  runs.forEach((run, i) => {
    ranges[2 * i] = run.start;
    ranges[2 * i + 1] = BigInt(run.pages) * PAGE;
  });
  return ranges;
}

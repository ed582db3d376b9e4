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

/** The parts of `runs` that lie inside `within` (both sorted). */
export function intersectRuns(runs: PageRun[], within: PageRun[]): PageRun[] {
  const out: PageRun[] = [];
  let j = 0;
  for (const run of runs) {
    const end = runEnd(run);
    while (j < within.length && runEnd(within[j]!) <= run.start) j++;
    for (let k = j; k < within.length && within[k]!.start < end; k++) {
      const lo = run.start > within[k]!.start ? run.start : within[k]!.start;
      const hiW = runEnd(within[k]!);
      const hi = end < hiW ? end : hiW;
      if (hi > lo) pushRun(out, lo, Number((hi - lo) / PAGE));
    }
  }
  return out;
}

/** The parts of `runs` that lie outside `minus` (both sorted). */
export function subtractRuns(runs: PageRun[], minus: PageRun[]): PageRun[] {
  const out: PageRun[] = [];
  let j = 0;
  for (const run of runs) {
    let cursor = run.start;
    const end = runEnd(run);
    while (j < minus.length && runEnd(minus[j]!) <= cursor) j++;
    for (let k = j; k < minus.length && minus[k]!.start < end; k++) {
      if (minus[k]!.start > cursor) pushRun(out, cursor, Number((minus[k]!.start - cursor) / PAGE));
      const mEnd = runEnd(minus[k]!);
      if (mEnd > cursor) cursor = mEnd;
    }
    if (cursor < end) pushRun(out, cursor, Number((end - cursor) / PAGE));
  }
  return out;
}

/** Sorted, merged union of two sorted run lists, in one pass. */
export function unionRuns(a: PageRun[], b: PageRun[]): PageRun[] {
  const out: PageRun[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]!.start <= b[j]!.start) ? a[i++]! : b[j++]!;
    const last = out[out.length - 1];
    if (last && runEnd(last) >= next.start) {
      const end = runEnd(next);
      if (end > runEnd(last)) last.pages = Number((end - last.start) / PAGE);
    } else {
      out.push({ start: next.start, pages: next.pages });
    }
  }
  return out;
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

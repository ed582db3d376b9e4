/**
 * Shared memory objects, shown by one mapping or several, in one process or several of the tree.
 * A write through one mapping shows in that mapping's page tables only, so no one process's
 * tracker can say the object did not change. The tree can: every mapping of it reports its own
 * writes (DirtyResult.sharedWrites), and when those are the very mappings the parent image saved
 * (the same processes, addresses and offsets), each tracked since then, a page none of them
 * wrote holds what the parent saved. The object's page saver (shmem.ts pageSavers) then keeps
 * those pages as the parent's and saves only the written ones. An object with a mapping not
 * tracked since the parent (new, in a process forked since, read-only, of a process whose
 * history is not the parent's, or of one in doubt: sharedDoubt), or whose mappings changed (one
 * gone with its process or unmapped: its writes were never reported), is saved whole.
 */
import type { SignalsRecord } from "@cr/format";
import { PAGE_SIZE, SIGNALS } from "@cr/native";
import { intersectRuns, pushRun, subtractRuns, unionRuns, type PageRun } from "../pages.js";
import { isSharedObjectMapping, objectHoles, sharedObjectKey } from "../objects/shmem.js";
import type { Vma } from "../objects/vmas.js";
import type { TreeProcess } from "../objects/tree.js";
import type { ParentImage, ParentTree, SavedMapping } from "../store/parent.js";
import type { DirtyResult } from "./tracker.js";

/** A frozen member of the tree with what its tracker said. */
export interface TrackedMember {
  pid: number;
  vmas: Vma[];
  result: DirtyResult;
  parent: ParentImage | null;
}

/** A mapping of an object, in a member. */
interface Mapping {
  member: TrackedMember;
  vma: Vma;
}

/**
 * Each member's result, with the saver's result of every object the tree vouches for showing
 * the object's unwritten pages as unchanged and its written ones as seen data.
 * `parentMappings` lists every shared mapping of the parent image (ParentTree.sharedMappings).
 */
export function vouchForSharedObjects(members: TrackedMember[], savers: ReadonlyMap<string, number>, parentMappings: () => SavedMapping[]): DirtyResult[] {
  const results = members.map((m) => m.result);
  let saved: SavedMapping[] | undefined;
  const parentSaved = () => (saved ??= parentMappings()); // read once, and only if an object needs it
  for (const [key, saver] of savers) {
    const mappings = members.flatMap((member) => member.vmas.filter((v) => isSharedObjectMapping(v) && sharedObjectKey(v) === key).map((vma) => ({ member, vma })));
    const at = members.findIndex((m) => m.pid === saver);
    if (!mappings.some((m) => writesOf(m) !== undefined)) continue; // not tracked through its mappings: saved whole
    const written = writtenSinceParent(mappings, members[at]!, parentSaved);
    if (written) results[at] = withObjectVouched(results[at]!, members[at]!, mappings.filter((m) => m.member === members[at]).map((m) => m.vma), written);
  }
  return results;
}

/** What the member's tracker says was written through the mapping: undefined when it does not say. */
function writesOf({ member, vma }: Mapping): PageRun[] | null | undefined {
  return member.result.sharedWrites?.find((w) => w.start === vma.start)?.written;
}

/**
 * The object's pages written since the parent, as runs of object offsets (`start` in bytes), or
 * null when that is not known.
 */
function writtenSinceParent(mappings: Mapping[], saver: TrackedMember, parentMappings: () => SavedMapping[]): PageRun[] | null {
  let object: string | undefined;
  const written: PageRun[][] = [];
  for (const mapping of mappings) {
    const { member, vma } = mapping;
    const writes = writesOf(mapping);
    const saved = member.parent?.sharedMappings.find((s) => s.start === vma.start && s.end === vma.end && s.offset === vma.offset);
    if (!writes || !saved || (object !== undefined && saved.object !== object)) return null;
    object = saved.object;
    written.push(writes.map((r) => ({ start: r.start - vma.start + vma.offset, pages: r.pages })));
  }
  // The parent's mappings of the object are exactly these (each matched one above), and its saver is this saver.
  const before = parentMappings().filter((s) => s.object === object);
  if (before.length !== mappings.length || before[0]?.index !== saver.parent?.index) return null;
  return written.reduce((all, runs) => unionRuns(all, runs), []);
}

/** `result` with the saver's mappings of the object: unwritten pages unchanged (but its holes), written ones seen as data. */
function withObjectVouched(result: DirtyResult, saver: TrackedMember, vmas: Vma[], written: PageRun[]): DirtyResult {
  if (!result.seen) return result;
  let unchanged = result.unchanged;
  let { scope, data } = result.seen;
  for (const vma of vmas) {
    const whole: PageRun[] = [{ start: vma.start, pages: Number((vma.end - vma.start) / BigInt(PAGE_SIZE)) }];
    const here: PageRun[] = [];
    for (const r of written) pushRun(here, r.start - vma.offset + vma.start, r.pages);
    const writes = intersectRuns(here, whole);
    unchanged = unionRuns(unchanged, subtractRuns(subtractRuns(whole, writes), objectHoles(saver.pid, [vma])));
    scope = unionRuns(scope, writes);
    data = unionRuns(data, writes);
  }
  return { ...result, unchanged, seen: { scope, data } };
}

/**
 * Why write tracking cannot vouch for the shared memory of member `pid`: a child it made since
 * the parent image (running, or a zombie), or one it reaps without wait (SIGCHLD ignored,
 * SA_NOCLDWAIT), may have written it through a mapping of its own, which the fork left untracked.
 * (The children it reaped with wait show in its tracker's state: write-protect.ts.)
 */
export function sharedDoubt(pid: number, members: TreeProcess[], parent: ParentTree | null, signals: SignalsRecord): string | undefined {
  const child = signals.actions[SIGNALS.SIGCHLD - 1]!;
  if (child.handler === BigInt(SIGNALS.SIG_IGN) || child.flags & BigInt(SIGNALS.SA_NOCLDWAIT)) return "its children are reaped without wait, unseen";
  const born = members.find((m) => m.stat.ppid === pid && !parent?.holds(m.pid, m.stat.startTime));
  return born ? `its child ${born.pid} is new since the parent image` : undefined;
}

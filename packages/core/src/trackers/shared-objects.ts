/**
 * Shared memory objects, shown by one mapping or several, in one process or several of the tree.
 * A write through one mapping shows in that mapping's page tables only, so no one process's
 * tracker can say the object did not change. The tree can: every mapping of it reports its own
 * writes (DirtyResult.sharedWrites), and when those are the very mappings the parent image saved
 * (the same processes, addresses and offsets), each tracked since then, a page none of them
 * wrote holds what the parent saved. The object's page savers (shmem.ts pageSavers) then keep
 * those pages as the parent's and save only the written ones. An object with a mapping not
 * tracked since the parent (new, in a process forked since, read-only, of a process whose
 * history is not the parent's, or of one in doubt: sharedDoubt), or whose mappings changed (one
 * gone with its process or unmapped: its writes were never reported), is saved whole.
 */
import type { SignalsRecord } from "@cr/format";
import { SIGNALS } from "@cr/native";
import { intersectRuns, subtractRuns, unionRuns, type PageRun } from "../pages.js";
import { atAddresses, isSharedObjectMapping, objectHoles, sharedObjectKey, type PageSavers } from "../objects/shmem.js";
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
 * Each member's result, with the result of every saver of an object the tree vouches for showing
 * the unwritten pages it saves as unchanged and its written ones as seen data. `parentMappings`
 * lists every shared mapping of the parent image (ParentTree.sharedMappings).
 */
export function vouchForSharedObjects(members: TrackedMember[], savers: PageSavers, parentMappings: () => SavedMapping[]): DirtyResult[] {
  const results = members.map((m) => m.result);
  let saved: SavedMapping[] | undefined;
  const parentSaved = () => (saved ??= parentMappings()); // read once, and only if an object needs it
  for (const [key, parts] of savers) {
    const mappings = members.flatMap((member) => member.vmas.filter((v) => isSharedObjectMapping(v) && sharedObjectKey(v) === key).map((vma) => ({ member, vma })));
    if (!mappings.some((m) => writesOf(m) !== undefined)) continue; // not tracked through its mappings: saved whole
    const written = writtenSinceParent(mappings, parentSaved);
    if (!written) continue;
    for (const [pid, part] of parts) {
      const at = members.findIndex((m) => m.pid === pid);
      const vmas = mappings.filter((m) => m.member === members[at]).map((m) => m.vma);
      results[at] = withObjectVouched(results[at]!, pid, vmas, part, written);
    }
  }
  return results;
}

/** What the member's tracker says was written through the mapping: undefined when it does not say. */
function writesOf({ member, vma }: Mapping): PageRun[] | null | undefined {
  return member.result.sharedWrites?.find((w) => w.start === vma.start)?.written;
}

/**
 * The object's pages written since the parent, as runs of object offsets, or null when that is
 * not known. The mappings (in table order) must be the parent's, in the same order, so that
 * each page has the same saver as in the parent (pageSavers).
 */
function writtenSinceParent(mappings: Mapping[], parentMappings: () => SavedMapping[]): PageRun[] | null {
  let object: string | undefined;
  let index = 0;
  let written: PageRun[] = [];
  for (const mapping of mappings) {
    const { member, vma } = mapping;
    const writes = writesOf(mapping);
    const saved = parentMappings().find((s) => s.index === member.parent?.index && s.start === vma.start && s.end === vma.end && s.offset === vma.offset);
    if (!writes || !saved || saved.index < index || (object !== undefined && saved.object !== object)) return null;
    object = saved.object;
    index = saved.index;
    written = unionRuns(written, writes.map((r) => ({ start: r.start - vma.start + vma.offset, pages: r.pages })));
  }
  // No other mapping of the object in the parent: each of those was matched by one above.
  return parentMappings().filter((s) => s.object === object).length === mappings.length ? written : null;
}

/**
 * `result` with `vmas`, the saver's mappings of the object: of the pages it saves (`part`, object
 * offsets), the unwritten ones unchanged (but for the object's holes), the written ones seen as data.
 */
function withObjectVouched(result: DirtyResult, pid: number, vmas: Vma[], part: PageRun[], written: PageRun[]): DirtyResult {
  if (!result.seen) return result;
  let unchanged = result.unchanged;
  let { scope, data } = result.seen;
  for (const vma of vmas) {
    const saves = atAddresses(vma, part);
    const writes = intersectRuns(atAddresses(vma, written), saves);
    unchanged = unionRuns(unchanged, subtractRuns(subtractRuns(saves, writes), objectHoles(pid, [vma])));
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

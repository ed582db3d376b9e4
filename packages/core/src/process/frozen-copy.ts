import { dropFrozenCopy, forkFrozenCopy, freeze, NativeError, thaw, WAIT } from "@cr/native";
import { injectChecked } from "./inject.js";
import { childrenLister } from "../objects/tree.js";
import { isFrozenCopy, isZombie, readStat, statIfExists } from "../objects/task.js";

/**
 * A copy-on-write copy of a frozen process (docs/checkpoint.md, "Copy-on-write"): a child made
 * by a clone injected into it, traced by cr from its creation and stopped before its first
 * instruction. Its memory is the process's memory at the freeze, whatever the process writes
 * once thawed; cr reads it with process_vm_readv, then drops it. It never runs the program's
 * code: the trampoline's fork site makes it exit if cr dies before it holds it, and it is killed
 * (PTRACE_O_EXITKILL) if cr dies later.
 */
export class FrozenCopy {
  private dropped = false;

  private constructor(
    /** The process copied, its parent. */
    readonly parent: number,
    readonly pid: number,
    /**
     * The copy's page faults (its naming ran in it: a write of its rseq area), final as it never
     * runs again: the parent's count of its reaped children's faults grows by them when it
     * reaps the copy, which the write-protect tracker must not take for a child of the program.
     */
    readonly faults: bigint,
  ) {}

  /** A copy of the frozen process `pid`, made by its thread `tid`. */
  static fork(pid: number, tid: number): FrozenCopy {
    const copy = forkFrozenCopy(tid);
    const stat = readStat(copy);
    return new FrozenCopy(pid, copy, stat.ownFaults + stat.childFaults);
  }

  /**
   * Kills the copy and has its parent reap it: its exit signal is 0, so the parent was told
   * nothing and only a wait with __WALL, injected while the parent is stopped for a moment (or
   * through `frozenTid`, its thread cr holds frozen now), takes the zombie away. A parent that
   * exited meanwhile left it to init, which reaps it.
   */
  drop(frozenTid?: number): void {
    if (this.dropped) return;
    this.dropped = true;
    dropFrozenCopy(this.pid);
    reapCopy(this.pid, this.parent, frozenTid);
  }
}

/**
 * Reaps the zombie frozen copies a killed cr left to the processes `parents` (each was told
 * nothing of it). A snapshot does this before it freezes the tree.
 */
export function reapLeftoverCopies(parents: number[]): void {
  const childrenOf = childrenLister();
  for (const parent of parents) {
    for (const child of childrenOf(parent)) {
      const stat = statIfExists(child);
      if (stat && isFrozenCopy(stat) && isZombie(stat)) reapCopy(child, parent);
    }
  }
}

/** Has `parent` reap its copy `pid` by an injected wait4: a parent that exited meanwhile left it to init. */
function reapCopy(pid: number, parent: number, frozenTid?: number): void {
  if (statIfExists(pid)?.ppid !== parent) return;
  const reap = (tid: number) => injectChecked(parent, tid, "wait4", [BigInt(pid), 0n, BigInt(WAIT.__WALL), 0n], `reaping cr's frozen copy ${pid}`);
  if (frozenTid !== undefined) {
    reap(frozenTid);
    return;
  }
  let tids: number[];
  try {
    tids = freeze(parent);
  } catch (error) {
    if (error instanceof NativeError && error.code === "ESRCH") return; // the parent exited: init reaps the copy
    throw error;
  }
  try {
    reap(tids[0]!);
  } finally {
    thaw(tids);
  }
}

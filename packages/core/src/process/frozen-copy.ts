import { dropFrozenCopy, forkFrozenCopy } from "@cr/native";

/**
 * A copy-on-write copy of a frozen process (docs/checkpoint.md, "Copy-on-write"), made by a
 * go-between: a child sharing the process's memory, made by a clone injected into it, which
 * forks the copy and is killed and reaped by the process at once, still frozen. The copy, an
 * orphan, is traced by cr from its creation and stopped before its first instruction. Its memory
 * is the process's memory at the freeze, whatever the process writes once thawed; cr reads it
 * (unpinned: copyPages), then drops it. It never runs the program's code: the trampoline's sites
 * make it (and the go-between) exit if cr dies before it holds them, and it is killed
 * (PTRACE_O_EXITKILL) if cr dies later. Nothing is left in the process either way.
 */
export class FrozenCopy {
  private dropped?: Promise<void>;

  private constructor(
    readonly pid: number,
    /**
     * The go-between's page faults: the process's count of its reaped children's faults grew by
     * them when it reaped it, which the write-protect tracker must not take for a child of the
     * program's.
     */
    readonly reapedFaults: bigint,
  ) {}

  /** A copy of the frozen process of thread `tid`. */
  static fork(tid: number): FrozenCopy {
    const { pid, reapedFaults } = forkFrozenCopy(tid);
    return new FrozenCopy(pid, reapedFaults);
  }

  /**
   * Kills the copy at once; resolves once it is gone (a copy of 1 GiB takes ~45 ms to free its
   * memory). Its parent (init, or a subreaper above the process copied) reaps it.
   */
  drop(): Promise<void> {
    this.dropped ??= dropFrozenCopy(this.pid);
    return this.dropped;
  }
}

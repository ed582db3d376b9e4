/**
 * The process tree: a process and every descendant of it, saved and restored together.
 *
 * Checkpoint half: members are found from each member's /proc/PID/task/TID/children (every
 * thread's: a child belongs to the thread that forked it), or, on a kernel without them
 * (CONFIG_PROC_CHILDREN), from the ppid of every process in /proc, read once per walk. The tree is
 * frozen member by member and walked again until a walk finds no process that is not frozen
 * yet: a frozen process cannot fork, so the set is then complete, and the image one instant.
 * A member that exits meanwhile fails the snapshot (every member is thawed), never a half-saved
 * tree. cr's own process is never a member: it is a child of the shell it was started from.
 *
 * Restart half: see restart-tree.ts.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { freeze, NativeError, PROCESS, sameMemory, thaw } from "@cr/native";
import { MemberState, type ProcessTableRecord } from "@cr/format";
import { CrError, errnoCode } from "../errors.js";
import { noteInterrupted } from "./syscall-restarts.js";
import { isZombie, statIfExists, type ProcStat } from "./task.js";

/** A process of the tree, as `cr check` lists it. */
export interface Member {
  pid: number;
  ppid: number;
  comm: string;
}

/** A member with its stat as read (state, pgrp, session, start time, exit code). */
export interface TreeProcess extends Member {
  stat: ProcStat;
}

// ================================================================ checkpoint half

/** `root` first, then its descendants, parents before their children; [] if root does not exist. */
export function processTree(root: number): TreeProcess[] {
  const rootMember = memberOf(root);
  if (!rootMember) return [];
  const children = childrenLister();
  const tree = [rootMember];
  for (let i = 0; i < tree.length; i++) {
    const found = children(tree[i]!.pid).flatMap((pid) => (pid === process.pid ? [] : (memberOf(pid) ?? [])));
    // A child reparented meanwhile is not this one's.
    tree.push(...found.filter((m) => m.ppid === tree[i]!.pid).sort((a, b) => a.pid - b.pid));
  }
  return tree;
}

/** Lists a process's children: by its children files where the kernel has them, else from one read of all of /proc. */
export function childrenLister(): (pid: number) => number[] {
  return hasChildrenFiles() ? childrenOf : scanChildren();
}

let childrenFiles: boolean | undefined;

function hasChildrenFiles(): boolean {
  childrenFiles ??= existsSync(`/proc/${process.pid}/task/${process.pid}/children`);
  return childrenFiles;
}

/** The children of `pid`, from its threads' children files; [] once it has exited. */
function childrenOf(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ESRCH") return []; // exited: a walk again finds what it left
    throw error;
  }
  return tids.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ESRCH") return []; // that thread exited
      throw error;
    }
  });
}

/** Every process's parent, read once from all of /proc: the children of each, by pid. */
function scanChildren(): (pid: number) => number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const member = memberOf(Number(name));
    if (!member) continue;
    const siblings = byParent.get(member.ppid);
    if (siblings) siblings.push(member.pid);
    else byParent.set(member.ppid, [member.pid]);
  }
  return (pid) => byParent.get(pid) ?? [];
}

/** A tree with every running member frozen: its threads (the leader first) by pid. */
export interface FrozenTree {
  /** Every member, parents before children, as read once the tree stood still. */
  members: TreeProcess[];
  /** Running members' threads, by pid; zombies have none. */
  tids: Map<number, number[]>;
  /** performance.now() when the freeze that held stopped its first process: the downtime starts there. */
  frozenAt: number;
  /** Members that exited before cr could freeze them: not in the image. */
  exited: TreeProcess[];
}

/** Freezes of a tree caught mid-change before cr gives up (a vfork child execs, an exiting process is gone, within milliseconds). */
const FREEZE_ATTEMPTS = 20;

/**
 * Freezes `root` and its descendants, walking the tree again until it finds no new process. A
 * member that exits before cr freezes it is left out (a zombie by then is saved as one), and
 * named in `exited`; one caught in its exit (frozen, its memory going), one whose children are
 * still its own while it exits, or a vfork child that
 * has not exec'd yet (it shares its parent's memory: half a process), makes cr thaw everything
 * and freeze again a moment later. The root exiting fails the snapshot.
 */
export async function freezeTree(root: number, timeoutMs?: number): Promise<FrozenTree> {
  for (let attempt = 1; ; attempt++) {
    const tree = freezeStable(root, timeoutMs);
    const unstable = halfMade(tree);
    if (!unstable) return tree;
    thawTree(tree.tids);
    if (attempt === FREEZE_ATTEMPTS) {
      throw new CrError(`process ${unstable.pid} (${unstable.comm}) ${unstable.why} each time cr froze the tree: nothing was saved, every process runs on; snapshot again`, { code: "EAGAIN", pid: unstable.pid });
    }
    await sleep(5);
  }
}

/** A member the tree cannot be saved with now: a vfork child before its exec, or the child of a process that is exiting. */
function halfMade(tree: FrozenTree): { pid: number; comm: string; why: string } | undefined {
  const exiting = tree.members.find((m) => tree.tids.has(m.pid) && (m.stat.flags & PROCESS.PF_EXITING) !== 0);
  if (exiting) return { ...exiting, why: "was exiting" };
  const left = new Set(tree.exited.map((e) => e.pid));
  const orphan = tree.members.find((m) => left.has(m.ppid));
  if (orphan) return { ...orphan, why: "was the child of a process that was exiting" };
  const sharing = tree.members.find((m) => tree.tids.has(m.pid) && tree.tids.has(m.ppid) && sameMemory(m.pid, m.ppid));
  return sharing && { ...sharing, why: "shared its parent's memory (a vfork child before its exec)" };
}

/** The tree frozen; the walk that finds its members is no downtime until the first of them stops. */
function freezeStable(root: number, timeoutMs?: number): FrozenTree {
  const tids = new Map<number, number[]>();
  const exited = new Map<number, TreeProcess>();
  let frozenAt: number | undefined;
  try {
    for (;;) {
      const all = processTree(root);
      if (all[0]?.pid !== root) throw rootExited(root);
      const members = all.filter((m) => !exited.has(m.pid) || isZombie(m.stat));
      const fresh = members.filter((m) => !tids.has(m.pid) && !isZombie(m.stat));
      if (fresh.length === 0 && !tids.has(root)) throw rootExited(root); // a zombie by now: nothing runs to be saved
      if (fresh.length === 0) return { members: members.map(reread).filter((m) => m !== undefined), tids, frozenAt: frozenAt!, exited: [...exited.values()].filter((e) => !members.some((m) => m.pid === e.pid)) };
      frozenAt ??= performance.now();
      for (const m of fresh) {
        const threads = freezeMember(m, root, timeoutMs);
        if (threads) tids.set(m.pid, threads);
        else exited.set(m.pid, m);
      }
    }
  } catch (error) {
    thawTree(tids);
    throw error;
  }
}

/**
 * The running members' pids in table order, parents first: the order of the image's sections,
 * not the order cr froze them in (a member found by a later walk was frozen last).
 */
export function runningPids(tree: FrozenTree): number[] {
  return tree.members.filter((m) => tree.tids.has(m.pid)).map((m) => m.pid);
}

/** Releases every frozen member (the children first: a parent thawed first could reap one). */
export function thawTree(tids: Map<number, number[]>): void {
  thaw(thawOrder(tids));
}

/** The tree's threads in the order a thaw lets them go: children's before their parents'. */
export function thawOrder(tids: Map<number, number[]>): number[] {
  return [...tids.values()].reverse().flat();
}

/**
 * The member's threads, frozen, and the syscalls the freeze interrupted noted; undefined if it
 * exited first (the root exiting fails the freeze).
 */
function freezeMember(m: TreeProcess, root: number, timeoutMs?: number): number[] | undefined {
  try {
    const tids = freeze(m.pid, timeoutMs);
    noteInterrupted(tids);
    return tids;
  } catch (error) {
    if (!(error instanceof NativeError && error.code === "ESRCH")) throw error;
    if (m.pid === root) throw rootExited(root);
    return undefined;
  }
}

/** A member's stat once frozen (its state then is "t"; a zombie's stays "Z"); undefined for a zombie reaped meanwhile. */
function reread(m: TreeProcess): TreeProcess | undefined {
  return memberOf(m.pid);
}

function rootExited(pid: number): CrError {
  return new CrError(`process ${pid} exited while cr froze it: nothing was saved`, { code: "ESRCH", pid });
}

/** The PROCESS_TABLE of a frozen tree. */
export function processTable(tree: FrozenTree): ProcessTableRecord {
  return {
    processes: tree.members.map(({ pid, stat }) => ({
      pid,
      ppid: stat.ppid,
      pgid: stat.pgrp,
      sid: stat.session,
      startTime: stat.startTime,
      state: isZombie(stat) ? MemberState.ZOMBIE : MemberState.RUNNING,
      exitStatus: isZombie(stat) ? stat.exitCode : 0,
    })),
  };
}

/** pid, ppid, comm and stat of `pid`, or undefined if it exited meanwhile. */
function memberOf(pid: number): TreeProcess | undefined {
  const stat = statIfExists(pid);
  return stat && { pid, ppid: stat.ppid, comm: stat.comm, stat };
}

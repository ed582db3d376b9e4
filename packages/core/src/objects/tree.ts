/**
 * The process tree: a process and every descendant of it, saved and restored together.
 *
 * Checkpoint half: members are found from the ppid of every process in /proc (this kernel may
 * lack /proc/PID/task/TID/children, CONFIG_PROC_CHILDREN), read once per walk. The tree is
 * frozen member by member and walked again until a walk finds no process that is not frozen
 * yet: a frozen process cannot fork, so the set is then complete, and the image one instant.
 * A member that exits meanwhile fails the snapshot (every member is thawed), never a half-saved
 * tree. cr's own process is never a member: it is a child of the shell it was started from.
 *
 * Restart half: see restart-tree.ts.
 */
import { readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { freeze, NativeError, sameMemory, thaw } from "@cr/native";
import { MemberState, type ProcessTableRecord } from "@cr/format";
import { CrError } from "../errors.js";
import { isZombie, readStat, type ProcStat } from "./task.js";

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
  const byParent = new Map<number, TreeProcess[]>();
  let rootMember: TreeProcess | undefined;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const member = memberOf(Number(name));
    if (!member) continue;
    if (member.pid === root) rootMember = member;
    const siblings = byParent.get(member.ppid);
    if (siblings) siblings.push(member);
    else byParent.set(member.ppid, [member]);
  }
  if (!rootMember) return [];
  const tree = [rootMember];
  for (let i = 0; i < tree.length; i++) tree.push(...(byParent.get(tree[i]!.pid) ?? []).sort((a, b) => a.pid - b.pid));
  return tree;
}

/** A tree with every running member frozen: its threads (the leader first) by pid. */
export interface FrozenTree {
  /** Every member, parents before children, as read once the tree stood still. */
  members: TreeProcess[];
  /** Running members' threads, by pid; zombies have none. */
  tids: Map<number, number[]>;
  /** performance.now() when the freeze that held began: the downtime starts there. */
  frozenAt: number;
}

/** Freezes of a tree caught mid-vfork before cr gives up (a vfork child execs within milliseconds). */
const VFORK_ATTEMPTS = 20;

/**
 * Freezes `root` and its descendants, walking the tree again until it finds no new process.
 * A member that exits before it is frozen fails the whole freeze, every member thawed. A tree
 * caught with a vfork child that has not exec'd yet (it shares its parent's memory: half a
 * process) is thawed and frozen again a moment later.
 */
export async function freezeTree(root: number, timeoutMs?: number): Promise<FrozenTree> {
  for (let attempt = 1; ; attempt++) {
    const frozenAt = performance.now();
    const tree = { ...freezeStable(root, timeoutMs), frozenAt };
    const sharing = tree.members.find((m) => tree.tids.has(m.pid) && tree.tids.has(m.ppid) && sameMemory(m.pid, m.ppid));
    if (!sharing) return tree;
    thawTree(tree.tids);
    if (attempt === VFORK_ATTEMPTS) {
      throw new CrError(`process ${sharing.pid} (${sharing.comm}) shared its parent's memory each time cr froze the tree (a vfork child before its exec): nothing was saved, every process runs on; snapshot again`, { code: "EAGAIN", pid: sharing.pid });
    }
    await sleep(5);
  }
}

function freezeStable(root: number, timeoutMs?: number): Omit<FrozenTree, "frozenAt"> {
  const tids = new Map<number, number[]>();
  try {
    for (;;) {
      const members = processTree(root);
      const fresh = members.filter((m) => !tids.has(m.pid) && !isZombie(m.stat));
      if (members[0]?.pid !== root) throw exited(root, "the root");
      if (fresh.length === 0) return { members: members.map(reread), tids };
      for (const m of fresh) tids.set(m.pid, freezeMember(m, timeoutMs));
    }
  } catch (error) {
    thawTree(tids);
    throw error;
  }
}

/** Releases every frozen member (the children first: a parent thawed first could reap one). */
export function thawTree(tids: Map<number, number[]>): void {
  for (const threads of [...tids.values()].reverse()) thaw(threads);
}

function freezeMember(m: TreeProcess, timeoutMs?: number): number[] {
  try {
    return freeze(m.pid, timeoutMs);
  } catch (error) {
    if (error instanceof NativeError && error.code === "ESRCH") throw exited(m.pid, `${m.comm}, a member of the tree,`);
    throw error;
  }
}

/** A member's stat once frozen (its state then is "t"; a zombie's stays "Z"). */
function reread(m: TreeProcess): TreeProcess {
  const again = memberOf(m.pid);
  if (!again) throw exited(m.pid, m.comm);
  return again;
}

function exited(pid: number, what: string): CrError {
  return new CrError(`process ${pid} (${what}) exited while cr froze the tree: nothing was saved, every process runs on; snapshot again`, { code: "ESRCH", pid });
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
  try {
    const stat = readStat(pid);
    return { pid, ppid: stat.ppid, comm: stat.comm, stat };
  } catch (error) {
    if (error instanceof CrError && (error.code === "ESRCH" || error.code === "ENOENT")) return undefined; // exited while /proc was listed
    throw error;
  }
}

/**
 * The process tree: a process and every descendant of it. `cr check` reports for the whole tree.
 *
 * Members are found from the ppid of every process in /proc (this kernel may lack
 * /proc/PID/task/TID/children, CONFIG_PROC_CHILDREN), read once per walk. cr's own process is
 * never a member: it is a child of the shell it was started from.
 */
import { readdirSync } from "node:fs";
import { CrError } from "../errors.js";
import { readStat } from "./task.js";

export interface Member {
  pid: number;
  ppid: number;
  comm: string;
}

/** `root` first, then its descendants, parents before their children; [] if root does not exist. */
export function processTree(root: number): Member[] {
  const byParent = new Map<number, Member[]>();
  let rootMember: Member | undefined;
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

/** Pids whose parent is `pid`, ascending (`tree`: processTree of pid or of an ancestor, when read already). */
export function childrenOf(pid: number, tree: Member[] = processTree(pid)): number[] {
  return tree.filter((m) => m.ppid === pid).map((m) => m.pid);
}

/** pid, ppid and comm of `pid`, or undefined if it exited meanwhile. */
function memberOf(pid: number): Member | undefined {
  try {
    const { ppid, comm } = readStat(pid);
    return { pid, ppid, comm };
  } catch (error) {
    if (error instanceof CrError && (error.code === "ESRCH" || error.code === "ENOENT")) return undefined; // exited while /proc was listed
    throw error;
  }
}

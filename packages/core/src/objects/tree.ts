/**
 * The process tree: a process and every descendant of it. `cr check` reports for the whole tree.
 *
 * Members are found from the ppid of every process in /proc (this kernel may lack
 * /proc/PID/task/TID/children, CONFIG_PROC_CHILDREN), read once per walk. cr's own process is
 * never a member: it is a child of the shell it was started from.
 */
import { readdirSync } from "node:fs";
import { errnoCode } from "../errors.js";
import { readProcText } from "../process/procfs.js";

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

/** Pids whose parent is `pid`, ascending. */
export function childrenOf(pid: number): number[] {
  return processTree(pid)
    .filter((m) => m.ppid === pid)
    .map((m) => m.pid);
}

/** pid, ppid and comm from /proc/PID/stat, or undefined if the process exited meanwhile. */
function memberOf(pid: number): Member | undefined {
  let text: string;
  try {
    text = readProcText(pid, "stat");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ESRCH" || code === "ENOENT") return undefined; // exited while /proc was listed
    throw error;
  }
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  return { pid, ppid: Number(fields[1]), comm: text.slice(text.indexOf("(") + 1, close) };
}

/**
 * Seccomp filters (SECCOMP record). A filtered process's filters would also see cr's injected
 * syscalls (and could kill the process for one): a snapshot suspends them for the frozen
 * threads (PTRACE_O_SUSPEND_SECCOMP) before it injects anything, and reads them back with
 * PTRACE_SECCOMP_GET_FILTER. A restart installs them again by an injected seccomp(), its last
 * injected call. Strict mode cannot be restored (nothing but read/write/exit would pass).
 */
import { PROCESS, SECCOMP, seccompFilters, STRUCTS, suspendSeccomp } from "@cr/native";
import type { SeccompRecord } from "@cr/format";
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import type { Remote } from "../process/inject.js";
import { parseKeyValues, readProcText, requireKey } from "../process/procfs.js";

const { SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC } = SECCOMP;
const { sock_fprog, sock_filter } = STRUCTS;
/** A filter travels through the scratch area (3840 bytes) after its sock_fprog. */
const MAX_PROGRAM_BYTES = 3840 - sock_fprog.size;

function statusOf(pid: number, tid?: number): Map<string, string> {
  return parseKeyValues(readProcText(pid, tid === undefined ? "status" : `task/${tid}/status`));
}

/** SECCOMP_MODE_DISABLED, _STRICT or _FILTER (/proc/PID/status Seccomp). */
function seccompMode(pid: number): number {
  return Number(requireKey(statusOf(pid), "Seccomp", pid, "status"));
}

/** `cr check`: strict mode, or threads with different filters (restored as one set for all). */
export function seccompProblems(pid: number, tids: number[]): Problem[] {
  const problem = (why: string): Problem[] => [{ resource: "process", kind: "seccomp", reason: `${why}: cr cannot restore that; checkpoint the process before it enters seccomp` }];
  const threads = tids.map((tid) => {
    const status = statusOf(pid, tid);
    const key = (name: string) => requireKey(status, name, pid, `task/${tid}/status`);
    return { tid, mode: Number(key("Seccomp")), filters: key("Seccomp_filters") };
  });
  const strict = threads.find((t) => t.mode === SECCOMP_MODE_STRICT);
  if (strict) return problem(`thread ${strict.tid} of ${pid} is in seccomp strict mode (only read, write and exit pass)`);
  if (new Set(threads.map((t) => t.filters)).size > 1) return problem(`the threads of ${pid} have different seccomp filters`);
  const filtered = threads.some((t) => t.filters !== "0");
  if (filtered && !ownCapability(CAP_SYS_ADMIN)) return problem(`${pid} has seccomp filters, and reading them needs CAP_SYS_ADMIN, which cr lacks (run cr as root)`);
  return [];
}

const { CAP_SYS_ADMIN } = PROCESS;

function ownCapability(cap: number): boolean {
  const effective = BigInt(`0x${requireKey(statusOf(process.pid), "CapEff", process.pid, "status")}`);
  return ((effective >> BigInt(cap)) & 1n) === 1n;
}

/** Right after the freeze, before any injected syscall: the filters let cr's syscalls pass. */
export function suspendFilters(pid: number, tids: number[]): void {
  if (seccompMode(pid) === SECCOMP_MODE_DISABLED) return;
  for (const tid of tids) suspendSeccomp(tid);
}

/** Checkpoint half: the frozen threads' filters, which must be the same in every thread. */
export function collectSeccomp(pid: number, tids: number[]): SeccompRecord {
  if (seccompMode(pid) === SECCOMP_MODE_DISABLED) return { filters: [] };
  const chains = tids.map((tid) => seccompFilters(tid));
  const key = (chain: typeof chains[number]) => chain.map((f) => `${f.flags}:${f.program.toString("hex")}`).join();
  if (chains.some((c) => key(c) !== key(chains[0]!))) {
    throw new CrError(`process ${pid}: its threads have different seccomp filters, which cr cannot restore`, { code: "UNSUPPORTED", pid });
  }
  const filters = chains[0]!.map((f) => ({ flags: f.flags, program: f.program }));
  const big = filters.find((f) => f.program.length > MAX_PROGRAM_BYTES);
  if (big) {
    const instructions = (bytes: number) => bytes / sock_filter.size;
    throw new CrError(`process ${pid}: a seccomp filter of ${instructions(big.program.length)} instructions; cr restores filters of up to ${instructions(MAX_PROGRAM_BYTES)}`, { code: "UNSUPPORTED", pid });
  }
  return { filters };
}

// ================================================================ restart half

/**
 * Oldest filter first, each installed through the ones before it, as the process did. With
 * several threads TSYNC gives every thread the same filters (and the caller's no_new_privs).
 * Nothing is injected after this: the filters might refuse it.
 */
export function restoreSeccomp(remote: Remote, saved: SeccompRecord | undefined, threads: number): void {
  for (const [i, filter] of (saved?.filters ?? []).entries()) {
    const program = Buffer.from(filter.program);
    const fprog = Buffer.alloc(sock_fprog.size);
    fprog.writeUInt16LE(program.length / sock_filter.size, sock_fprog.len);
    fprog.writeBigUInt64LE(remote.put(program, sock_fprog.size), sock_fprog.filter);
    const flags = filter.flags | (threads > 1 ? SECCOMP_FILTER_FLAG_TSYNC : 0);
    const what = `installing seccomp filter ${i + 1} of ${saved!.filters.length}`;
    const failed = remote.call("seccomp", [SECCOMP_SET_MODE_FILTER, BigInt(flags), remote.put(fprog)], what);
    // TSYNC names the thread it could not synchronise.
    if (failed !== 0n) throw new CrError(`${what}: thread ${failed} of process ${remote.pid} could not take it`, { code: "ESRCH", pid: remote.pid });
  }
}

/**
 * Process attributes that procfs or an injected prctl shows and the stub would otherwise take
 * from cr: no_new_privs, dumpable, child subreaper, oom_score_adj, the audit loginuid and the
 * membarrier registrations (PROCESS_ATTRS record). Seccomp filters: seccomp.ts.
 */
import { writeFileSync } from "node:fs";
import { MEMBARRIER, OPEN, PRCTL } from "@cr/native";
import type { ProcessAttrsRecord } from "@cr/format";
import { CrError, errnoCode } from "../errors.js";
import { errnoName, SCRATCH, type Queries, type Remote } from "../process/inject.js";
import { parseKeyValues, procPath, readProcText, requireKey } from "../process/procfs.js";

const { PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS } = PRCTL;
const { MEMBARRIER_CMD_GET_REGISTRATIONS } = MEMBARRIER;
/** The REGISTER commands GET_REGISTRATIONS reports, each a bit of its result. */
const MEMBARRIER_REGISTER_CMDS = [
  MEMBARRIER.MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
  MEMBARRIER.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
  MEMBARRIER.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
  MEMBARRIER.MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
];

/** Checkpoint half: `tids` are the frozen threads, the leader first (`queries` run in it). */
export function askAttrs(queries: Queries, tids: number[]): () => ProcessAttrsRecord {
  const pid = queries.pid;
  const subreaper = queries.ask("prctl", [PR_GET_CHILD_SUBREAPER, SCRATCH, 0n, 0n, 0n], "prctl(PR_GET_CHILD_SUBREAPER)", 4);
  const dumpable = queries.ask("prctl", [PR_GET_DUMPABLE, 0n, 0n, 0n, 0n], "prctl(PR_GET_DUMPABLE)");
  const membarrier = queries.ask("membarrier", [MEMBARRIER_CMD_GET_REGISTRATIONS, 0n, 0n], "membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS)");
  const noNewPrivs = (tid: number) => requireKey(parseKeyValues(readProcText(pid, `task/${tid}/status`)), "NoNewPrivs", pid, `task/${tid}/status`) === "1";
  return () => {
    // 2 (SUID_DUMP_ROOT) comes from exec'ing a set-uid program; PR_SET_DUMPABLE takes only 0 or 1.
    if (dumpable.result > 1n) throw new CrError(`process ${pid} is dumpable ${dumpable.result} (suid_dumpable), which a restart cannot set`, { code: "UNSUPPORTED", pid });
    return {
      noNewPrivs: tids.filter(noNewPrivs),
      dumpable: Number(dumpable.result),
      childSubreaper: subreaper.out.readInt32LE(0) !== 0 ? 1 : 0,
      oomScoreAdj: Number(readProcText(pid, "oom_score_adj").trim()),
      loginuid: Number(readProcText(pid, "loginuid").trim()),
      membarrier: membarrierRegistrations(pid, membarrier.raw),
    };
  };
}

/** MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3): without it the registrations cannot be known. */
function membarrierRegistrations(pid: number, ret: bigint): number {
  if (ret < 0n) {
    const code = errnoName(-Number(ret));
    throw new CrError(`process ${pid}: MEMBARRIER_CMD_GET_REGISTRATIONS failed with ${code} (Linux 6.3+ needed to save membarrier registrations)`, { code, pid });
  }
  return Number(ret);
}

// ================================================================ restart half

/**
 * Before the credentials (the loginuid needs CAP_AUDIT_CONTROL, oom_score_adj below cr's
 * minimum CAP_SYS_RESOURCE): oom_score_adj, loginuid (each thread's own: the leader's goes to
 * every thread in `tids`), subreaper, membarrier registrations.
 */
export function restoreAttrs(remote: Remote, saved: ProcessAttrsRecord | undefined, tids: number[]): void {
  if (!saved) return; // an image from before the record: nothing was saved
  writeOomScoreAdj(remote.pid, saved.oomScoreAdj);
  if (saved.loginuid !== Number(readProcText(remote.pid, "loginuid").trim())) {
    for (const tid of tids) writeLoginuid(remote.thread(tid), saved.loginuid);
  }
  if (saved.childSubreaper) remote.call("prctl", [PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n], "restoring the child subreaper flag");
  for (const cmd of MEMBARRIER_REGISTER_CMDS) {
    if ((BigInt(saved.membarrier) & cmd) !== 0n) remote.call("membarrier", [cmd, 0n, 0n], `restoring membarrier registration ${cmd}`);
  }
}

/**
 * After the credentials (a uid change resets dumpable): dumpable, then no_new_privs in each
 * thread that had it. `tids` maps each saved thread ID to the restarted one.
 */
export function restoreLateAttrs(remote: Remote, saved: ProcessAttrsRecord | undefined, tids: Map<number, number>): void {
  if (!saved) return;
  remote.call("prctl", [PR_SET_DUMPABLE, BigInt(saved.dumpable), 0n, 0n, 0n], "restoring the dumpable flag");
  for (const tid of saved.noNewPrivs) {
    const now = tids.get(tid) ?? tid;
    remote.thread(now).call("prctl", [PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n], `restoring no_new_privs of thread ${now}`);
  }
}

function writeOomScoreAdj(pid: number, value: number): void {
  const path = procPath(pid, "oom_score_adj");
  try {
    writeFileSync(path, String(value));
  } catch (error) {
    const code = errnoCode(error) ?? "EIO";
    throw new CrError(`restoring oom_score_adj ${value} of process ${pid}: ${code} (below cr's own minimum needs CAP_SYS_RESOURCE)`, { code, pid, path, cause: error });
  }
}

/** The kernel lets a thread set only its own loginuid: written from inside it. */
function writeLoginuid(remote: Remote, loginuid: number): void {
  const what = `restoring loginuid ${loginuid}`;
  const fd = remote.call("openat", [OPEN.AT_FDCWD, remote.putString("/proc/thread-self/loginuid"), BigInt(OPEN.O_WRONLY), 0n], what);
  try {
    const text = Buffer.from(String(loginuid));
    remote.call("write", [fd, remote.put(text, 256), BigInt(text.length)], what);
  } finally {
    remote.call("close", [fd], what);
  }
}

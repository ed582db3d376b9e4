import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { freeze, thaw } from "@cr/native";
import { noteInterrupted } from "../objects/syscall-restarts.js";
import { readStat } from "../objects/task.js";

/** How long a snapshot waits at most for a warmed-up target to sleep again. */
const SETTLE_MS = 30;

export interface Warmup {
  /** How long the target was stopped: part of the snapshot's downtime. */
  stoppedMs: number;
  /** Resolves once the target sleeps again, or after SETTLE_MS. */
  settled(): Promise<void>;
}

/**
 * A shadow-paging hypervisor (this machine is a PVM guest) drops the host's copy of the page
 * tables of a process that sleeps while others use memory, and rebuilds it at the process's
 * next return to user space: ~8 ms per GiB mapped. For a sleeping target that return would be
 * the first syscall injected into it, inside the freeze. So a sleeping target is stopped and
 * released once beforehand (its blocking syscall restarts unnoticed, as at every freeze) and
 * pays the rebuild while it sleeps anyway. Elsewhere this costs one short stop.
 */
export function warmPageTables(pid: number): Warmup {
  if (readStat(pid).state !== "S") return { stoppedMs: 0, settled: async () => {} };
  const started = performance.now();
  const tids = freeze(pid);
  try {
    noteInterrupted(tids);
  } finally {
    thaw(tids);
  }
  const stoppedMs = performance.now() - started;
  const deadline = performance.now() + SETTLE_MS;
  return { stoppedMs, settled: () => untilAsleep(pid, deadline) };
}

async function untilAsleep(pid: number, deadline: number): Promise<void> {
  while (readStat(pid).state !== "S" && performance.now() < deadline) await sleep(1);
}

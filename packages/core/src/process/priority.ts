import { readdirSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { PROCESS } from "@cr/native";
import { errnoCode } from "../errors.js";
import { ownCapability } from "./procfs.js";

/** How much lower cr's threads run while they write an image its target no longer waits for. */
const WRITE_BACK_NICE = 10;

/**
 * Lowers every thread of cr (nice +10) once its target is thawed, so that the target, running
 * again on the same cores as cr's reads, hashing and writes, comes first (docs/checkpoint.md,
 * "After the thaw"); returns what puts them back, for the next freeze of an `--interval` run.
 * Only where cr may put them back (CAP_SYS_NICE): else that freeze would run lowered.
 */
export function yieldToTarget(): () => void {
  if (!ownCapability(PROCESS.CAP_SYS_NICE)) return () => {};
  const nice = getPriority(0); // the main thread's: every thread of cr runs at it
  setEveryThread(Math.min(19, nice + WRITE_BACK_NICE));
  return () => setEveryThread(nice);
}

/** Threads made later inherit the priority of the thread that makes them. */
function setEveryThread(nice: number): void {
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      setPriority(Number(tid), nice);
    } catch (error) {
      if (errnoCode(error) !== "ESRCH") throw error; // a thread that ended after the listing needs nothing
    }
  }
}

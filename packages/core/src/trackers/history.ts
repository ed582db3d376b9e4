import { closeSync, openSync, readSync, writeSync } from "node:fs";
import type { ScratchArea } from "@cr/native";

/**
 * Kernel-backed trackers (write-protect, soft-dirty) report writes since their last re-arm, which
 * is only "since the parent image" if that re-arm produced the parent. A scan whose image never
 * got committed (cr killed, disk full) or went to another store would make the next image miss
 * pages. So the target itself remembers, in a slot of cr's trampoline page, the identity of the
 * image that consumed the last re-arm; a snapshot trusts the tracker only when that identity is
 * its parent's. The slot travels with the process and dies with its address space (exec).
 */
const SLOT_BYTES = 16; // the magic, then the identity: what the trampoline keeps room for (ScratchArea.trackerSlot)
const SLOT_MAGIC = 0x7473_6968_6b72_7463n; // "ctrkhist"

/**
 * The slot of one address space: where it is, and /proc/PID/mem opened while the process was
 * stopped. That descriptor reaches this address space only: the image is committed after the
 * thaw, when the process may have exec'd (the same PID, a new address space in which the slot's
 * address may hold anything) or exited (its PID maybe reused); a write then reaches nothing.
 */
export interface HistorySlot {
  pid: number;
  address: bigint;
  memory: number;
}

/** The slot in the scratch area of the stopped process's trampoline; closeHistorySlot when done. */
export function openHistorySlot(pid: number, area: ScratchArea): HistorySlot {
  return { pid, address: area.trackerSlot.address, memory: openSync(`/proc/${pid}/mem`, "r+") };
}

export function closeHistorySlot(slot: HistorySlot): void {
  closeSync(slot.memory);
}

/** Whether the tracker's history continues exactly from the image with `identity`. */
function historyContinues(slot: HistorySlot, identity: bigint): boolean {
  const bytes = Buffer.alloc(SLOT_BYTES);
  readSync(slot.memory, bytes, 0, SLOT_BYTES, Number(slot.address));
  return bytes.readBigUInt64LE(0) === SLOT_MAGIC && bytes.readBigUInt64LE(8) === identity;
}

/** Before a re-arm: until an image is committed, no parent can trust this history. */
export function historyBroken(slot: HistorySlot): void {
  writeSlot(slot, 0n);
}

/**
 * After the image with `identity` is durable. An address space that is gone by then (the process
 * exec'd or exited: nothing is written) has no next snapshot to continue from it.
 */
export function historyCommitted(slot: HistorySlot, identity: bigint): void {
  writeSlot(slot, identity);
}

function writeSlot(slot: HistorySlot, identity: bigint): void {
  const bytes = Buffer.alloc(SLOT_BYTES);
  bytes.writeBigUInt64LE(SLOT_MAGIC, 0);
  bytes.writeBigUInt64LE(identity, 8);
  writeSync(slot.memory, bytes, 0, SLOT_BYTES, Number(slot.address));
}

/** The reason a kernel-backed tracker cannot give an increment, or undefined when it can. */
export function untrustedReason(slot: HistorySlot, parent: { identity: bigint } | null): string | undefined {
  if (!parent) return "no parent image";
  if (!historyContinues(slot, parent.identity)) return "the tracker's history does not continue from the parent image (another snapshot re-armed it, or the process is new)";
  return undefined;
}

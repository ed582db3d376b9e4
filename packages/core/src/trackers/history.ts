import { readMemory, writeMemory, type ScratchArea } from "@cr/native";

/**
 * Kernel-backed trackers (write-protect, soft-dirty) report writes since their last re-arm, which
 * is only "since the parent image" if that re-arm produced the parent. A scan whose image never
 * got committed (cr killed, disk full) or went to another store would make the next image miss
 * pages. So the target itself remembers, in a slot of cr's trampoline page, the identity of the
 * image that consumed the last re-arm; a snapshot trusts the tracker only when that identity is
 * its parent's. The slot travels with the process and dies with its address space (exec).
 */
const SLOT_BYTES = 16;
const SLOT_MAGIC = 0x7473_6968_6b72_7463n; // "ctrkhist"

/** Where the slot is, in the scratch area of the target's trampoline. */
export function historySlot(area: ScratchArea): bigint {
  return area.address + BigInt(area.size - SLOT_BYTES);
}

/** Whether the tracker's history continues exactly from the image with `identity`. */
export function historyContinues(pid: number, slot: bigint, identity: bigint): boolean {
  const bytes = Buffer.alloc(SLOT_BYTES);
  readMemory(pid, new BigUint64Array([slot, BigInt(SLOT_BYTES)]), bytes);
  return bytes.readBigUInt64LE(0) === SLOT_MAGIC && bytes.readBigUInt64LE(8) === identity;
}

/** Before a re-arm: until an image is committed, no parent can trust this history. */
export function historyBroken(pid: number, slot: bigint): void {
  writeSlot(pid, slot, 0n);
}

/** After the image with `identity` is durable. */
export function historyCommitted(pid: number, slot: bigint, identity: bigint): void {
  writeSlot(pid, slot, identity);
}

function writeSlot(pid: number, slot: bigint, identity: bigint): void {
  const bytes = Buffer.alloc(SLOT_BYTES);
  bytes.writeBigUInt64LE(SLOT_MAGIC, 0);
  bytes.writeBigUInt64LE(identity, 8);
  writeMemory(pid, slot, bytes);
}

/** The reason a kernel-backed tracker cannot give an increment, or undefined when it can. */
export function untrustedReason(pid: number, slot: bigint, parent: { identity: bigint } | null): string | undefined {
  if (!parent) return "no parent image";
  if (!historyContinues(pid, slot, parent.identity)) return "the tracker's history does not continue from the parent image (another snapshot re-armed it, or the process is new)";
  return undefined;
}

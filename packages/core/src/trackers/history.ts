import { readMemory, writeMemory, type ScratchArea } from "@cr/native";
import { CrError } from "../errors.js";
import { readStat } from "../task.js";

/**
 * Kernel-backed trackers (write-protect, soft-dirty) report writes since their last re-arm, which
 * is only "since the parent image" if that re-arm produced the parent. A scan whose image never
 * got committed (cr killed, disk full) or went to another store would make the next image miss
 * pages. So the target itself remembers, in a slot of cr's trampoline page, the identity of the
 * image that consumed the last re-arm; a snapshot trusts the tracker only when that identity is
 * its parent's. The slot travels with the process and dies with its address space (exec).
 *
 * A snapshot that re-arms after the thaw (write-protect) first claims the slot, while frozen,
 * for the cr process taking it: until that snapshot commits or gives up, any other snapshot of
 * the process, which can only freeze it in between, finds the claim and must not re-arm or
 * register anything (its re-arm would take writes the first one still has to see).
 */
const SLOT_BYTES = 16;
const SLOT_MAGIC = 0x7473_6968_6b72_7463n; // "ctrkhist"
const CLAIM_MAGIC = 0x7973_7562_6b72_7463n; // "ctrkbusy"

/** Where the slot is, in the scratch area of the target's trampoline. */
export function historySlot(area: ScratchArea): bigint {
  return area.address + BigInt(area.size - SLOT_BYTES);
}

/** Before a re-arm: until an image is committed, no parent can trust this history. */
export function historyBroken(pid: number, slot: bigint): void {
  writeSlot(pid, slot, SLOT_MAGIC, 0n);
}

/** After the image with `identity` is durable. */
export function historyCommitted(pid: number, slot: bigint, identity: bigint): void {
  writeSlot(pid, slot, SLOT_MAGIC, identity);
}

/** Claims the history for this cr process until it commits or breaks it (the target is frozen). */
export function claimHistory(pid: number, slot: bigint): void {
  writeSlot(pid, slot, CLAIM_MAGIC, ownClaim());
}

/** Whether this cr process still holds its claim. */
export function holdsHistory(pid: number, slot: bigint): boolean {
  const { magic, value } = readSlot(pid, slot);
  return magic === CLAIM_MAGIC && value === ownClaim();
}

/** Why the history belongs to another snapshot in progress (a live cr's claim), or undefined. */
export function claimedElsewhere(pid: number, slot: bigint): string | undefined {
  const { magic, value } = readSlot(pid, slot);
  if (magic !== CLAIM_MAGIC) return undefined;
  const holder = Number(value >> 32n);
  if (!claimAlive(holder, Number(value & 0xffff_ffffn))) return undefined;
  return `another snapshot of this process (by cr PID ${holder}) has not re-armed its tracker yet, so this one leaves the tracker alone`;
}

/** The reason a kernel-backed tracker cannot give an increment, or undefined when it can. */
export function untrustedReason(pid: number, slot: bigint, parent: { identity: bigint } | null): string | undefined {
  if (!parent) return "no parent image";
  const { magic, value } = readSlot(pid, slot);
  if (magic !== SLOT_MAGIC || value !== parent.identity) return "the tracker's history does not continue from the parent image (another snapshot re-armed it, or the process is new)";
  return undefined;
}

/** A claim names its cr process by PID and start time (low 32 bits): a reused PID is not it. */
function ownClaim(): bigint {
  return (BigInt(process.pid) << 32n) | (readStat(process.pid).startTime & 0xffff_ffffn);
}

function claimAlive(pid: number, startLow: number): boolean {
  try {
    return Number(readStat(pid).startTime & 0xffff_ffffn) === startLow;
  } catch (error) {
    // A claim whose cr is gone died with it (killed between its freeze and its commit).
    if (error instanceof CrError && error.code === "ESRCH") return false;
    throw error;
  }
}

function readSlot(pid: number, slot: bigint): { magic: bigint; value: bigint } {
  const bytes = Buffer.alloc(SLOT_BYTES);
  readMemory(pid, new BigUint64Array([slot, BigInt(SLOT_BYTES)]), bytes);
  return { magic: bytes.readBigUInt64LE(0), value: bytes.readBigUInt64LE(8) };
}

function writeSlot(pid: number, slot: bigint, magic: bigint, value: bigint): void {
  const bytes = Buffer.alloc(SLOT_BYTES);
  bytes.writeBigUInt64LE(magic, 0);
  bytes.writeBigUInt64LE(value, 8);
  writeMemory(pid, slot, bytes);
}

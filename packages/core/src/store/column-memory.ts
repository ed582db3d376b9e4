/**
 * Where page map columns live. On this VM fresh memory is dear: a 4 KiB page faults through
 * the hypervisor (~14 us), and memory the process gave back to the kernel goes back to the host
 * (~2.4 ms a MiB to take again). A 20% increment of 1 GiB builds ~20 MiB of columns (the map it
 * inherits, its changes, the merged map): inheriting and merging a map of 200k entries took ~6 ms
 * on memory used before, 35 ms and more on fresh memory. So a snapshot borrows the memory of
 * its columns (ColumnLoan) from what earlier snapshots of this process gave back (`--interval`).
 */
import type { ColumnMemory, PageColumns } from "@cr/format";
import { alignedBuffer, PAGE_SIZE } from "@cr/native";

const MIB = 1 << 20;

/**
 * Columns of 1 MiB or more on huge pages (alignedBuffer, zeroed): a deep chain's map (225
 * thousand entries, 10 MiB of columns) cost ~40 ms of 4 KiB faults to decode.
 */
export function columnMemory(bytes: number): ArrayBuffer {
  if (bytes < MIB) return new ArrayBuffer(bytes);
  return alignedBuffer(Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE).buffer as ArrayBuffer;
}

/** Buffers given back, smallest first; at most SPARE_BUFFERS, the largest kept. */
const spare: ArrayBuffer[] = [];
const SPARE_BUFFERS = 8;
/** A new buffer has this much room beyond what is asked, so that the next, slightly larger map fits in it. */
const HEADROOM = 1.25;

/** The memory of one snapshot's columns: lent, then given back for the next snapshot. */
export class ColumnLoan {
  private readonly lent: ArrayBuffer[] = [];

  /** Zeroed memory of at least `bytes` bytes: a buffer given back before, or a new one from 1 MiB on. */
  readonly memory: ColumnMemory = (bytes) => {
    if (bytes < MIB) return new ArrayBuffer(bytes);
    const buffer = takeSpare(bytes) ?? columnMemory(Math.ceil(bytes * HEADROOM));
    this.lent.push(buffer);
    return buffer;
  };

  /** Gives back every buffer lent but those the `kept` columns are in (their keeper gives those back: giveBackBuffers). */
  giveBack(kept: readonly PageColumns[] = []): void {
    const keep = new Set(kept.map(bufferOf));
    giveBackBuffers(this.lent.splice(0).filter((b) => !keep.has(b)));
  }
}

export function bufferOf(columns: PageColumns): ArrayBuffer {
  return columns.first.buffer as ArrayBuffer;
}

/** Buffers nothing uses any more, for the next loan (one below 1 MiB was never lent: left to the collector). */
export function giveBackBuffers(buffers: readonly ArrayBuffer[]): void {
  spare.push(...buffers.filter((b) => b.byteLength >= MIB));
  spare.sort((a, b) => a.byteLength - b.byteLength);
  spare.splice(0, Math.max(0, spare.length - SPARE_BUFFERS));
}

/** The smallest spare buffer of `bytes` to twice that, its first `bytes` zeroed. */
function takeSpare(bytes: number): ArrayBuffer | undefined {
  const i = spare.findIndex((b) => b.byteLength >= bytes);
  if (i < 0 || spare[i]!.byteLength > 2 * bytes) return undefined;
  const [buffer] = spare.splice(i, 1);
  new Uint8Array(buffer!, 0, bytes).fill(0);
  return buffer;
}

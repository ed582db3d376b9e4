/**
 * Descriptors cr makes once for a whole tree at restart (a socket every holder shares), by key,
 * and holds until the processes have theirs: openDescriptors gives them out and leaves them to
 * their maker to close.
 */
import { closeSync } from "node:fs";

export class MadeDescriptors<K> {
  protected readonly made = new Map<K, number>();

  /** cr's descriptor on the object `key`; undefined when none was made for it. */
  fdOf(key: K): number | undefined {
    return this.made.get(key);
  }

  owns(fd: number): boolean {
    return [...this.made.values()].includes(fd);
  }

  /** Closes cr's descriptors (the processes keep theirs). */
  close(): void {
    for (const fd of this.made.values()) closeSync(fd);
    this.made.clear();
  }
}

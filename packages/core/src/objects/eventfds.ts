/**
 * eventfds: a 64-bit counter in the kernel, with a mode (EFD_SEMAPHORE: a read takes 1, else the
 * whole count) and the status flags of its open file description. Checkpoint half:
 * collectEventfds reads each one's counter and mode from /proc/PID/fdinfo (the EVENTFDS record),
 * once per open file description. Restart half: makeEventfd creates it again in cr with that
 * counter and those flags, and the stub gets it as it gets every descriptor (files-restore.ts); a
 * dup, or another process of the tree, shares it again (shared-fds.ts).
 */
import type { EventfdsRecord, FdRecord } from "@cr/format";
import { createEventfd, EVENTFD } from "@cr/native";
import { CrError } from "../errors.js";
import { readProcText } from "../process/procfs.js";
import type { FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedEventfd = EventfdsRecord["eventfds"][number];

// ================================================================ checkpoint half

/** The counter and mode of each eventfd of `files`, through its lowest fd (a dup of one is a sharer). */
export function collectEventfds(pid: number, files: FdEntry[], shared: SharedFd[]): SavedEventfd[] {
  return firstOfEachDescription(files, shared, "eventfd").map((f) => parseEventfd(pid, f.fd, readProcText(pid, `fdinfo/${f.fd}`)));
}

/** fdinfo's "eventfd-count: <hex>" and "eventfd-semaphore: 0|1". */
export function parseEventfd(pid: number, fd: number, fdinfo: string): SavedEventfd {
  const count = /^eventfd-count:\s*([0-9a-f]+)$/m.exec(fdinfo);
  const semaphore = /^eventfd-semaphore:\s*([01])$/m.exec(fdinfo);
  if (!count || !semaphore) throw new CrError(`unexpected fdinfo of eventfd ${fd} of process ${pid}: "${fdinfo.slice(0, 120)}"`, { code: "EPROTO", pid, fd });
  return { fd, count: BigInt(`0x${count[1]}`), semaphore: Number(semaphore[1]) };
}

// ================================================================ restart half

/** The eventfd of descriptor `fd`, made again in cr with its counter, mode and status flags. */
export function makeEventfd(fd: FdRecord, eventfd: SavedEventfd): number {
  const flags = (eventfd.semaphore ? EVENTFD.EFD_SEMAPHORE : 0) | (fd.openFlags & EVENTFD.EFD_NONBLOCK);
  return createEventfd(eventfd.count, flags);
}

/**
 * eventfds: a 64-bit counter in the kernel, with a mode (EFD_SEMAPHORE: a read takes 1, else the
 * whole count) and the status flags of its open file description. Checkpoint half:
 * collectEventfds reads each one's counter and mode from /proc/PID/fdinfo (the EVENTFDS record),
 * once per open file description. Restart half: makeEventfd creates it again in cr with that
 * counter and those flags, and the stub gets it as it gets every descriptor (files-restore.ts); a
 * dup, or another process of the tree, shares it again (shared-fds.ts).
 */
import type { EventfdsRecord, FdRecord } from "@cr/format";
import { createEventfd, EVENTFD, NativeError } from "@cr/native";
import { CrError } from "../errors.js";
import { readProcText } from "../process/procfs.js";
import type { FdEntry } from "./files.js";
import type { SharedFd } from "./shared-fds.js";

export type SavedEventfd = EventfdsRecord["eventfds"][number];

// ================================================================ checkpoint half

/** The counter and mode of each eventfd of `files`, through its lowest fd (a dup of one is a sharer). */
export function collectEventfds(pid: number, files: FdEntry[], shared: SharedFd[]): SavedEventfd[] {
  const sharers = new Set(shared.map((s) => s.fd));
  return files.filter((f) => f.kind === "eventfd" && !sharers.has(f.fd)).map((f) => parseEventfd(pid, f.fd, readProcText(pid, `fdinfo/${f.fd}`)));
}

/** fdinfo's "eventfd-count: <hex>" and "eventfd-semaphore: 0|1". */
export function parseEventfd(pid: number, fd: number, fdinfo: string): SavedEventfd {
  const count = /^eventfd-count:\s*([0-9a-f]+)$/m.exec(fdinfo);
  const semaphore = /^eventfd-semaphore:\s*([01])$/m.exec(fdinfo);
  if (!count || !semaphore) throw new CrError(`unexpected fdinfo of eventfd ${fd} of process ${pid}: "${fdinfo.slice(0, 120)}"`, { code: "EPROTO", pid });
  return { fd, count: BigInt(`0x${count[1]}`), semaphore: Number(semaphore[1]) };
}

// ================================================================ restart half

/** The eventfd of descriptor `fd`, made again in cr with its counter, mode and status flags. */
export function makeEventfd(fd: FdRecord, saved: ReadonlyMap<number, SavedEventfd>): number {
  const eventfd = saved.get(fd.fd);
  if (!eventfd) throw new CrError(`the image has eventfd ${fd.fd} without its counter (EVENTFDS)`, { code: "BAD_IMAGE", fd: fd.fd });
  const flags = (eventfd.semaphore ? EVENTFD.EFD_SEMAPHORE : 0) | (fd.openFlags & EVENTFD.EFD_NONBLOCK);
  try {
    return createEventfd(eventfd.count, flags);
  } catch (error) {
    if (error instanceof NativeError) throw new CrError(`cannot make eventfd ${fd.fd} again: ${error.message}`, { code: error.code, fd: fd.fd, step: "open files", cause: error });
    throw error;
  }
}

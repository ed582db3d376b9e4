/**
 * signalfds: a descriptor through which a program reads, as records, the signals of a mask that
 * are pending for it (blocked, usually, so that they wait there). Checkpoint half:
 * collectSignalfds reads each one's mask from /proc/PID/fdinfo (the SIGNALFDS record), once per
 * open file description. Restart half: makeSignalfd creates it again in cr with that mask and
 * its status flags; the stub gets it as it gets every descriptor (files-restore.ts); a dup, or
 * another process of the tree, shares it again (shared-fds.ts). The signals themselves are the
 * reader's pending ones, which signals.ts saves and restores: a signalfd holds none.
 */
import type { FdRecord, SignalfdsRecord } from "@cr/format";
import { createSignalfd, SIGNALFD } from "@cr/native";
import { CrError } from "../errors.js";
import { readProcText } from "../process/procfs.js";
import type { FdEntry } from "./files.js";
import { firstOfEachDescription, type SharedFd } from "./shared-fds.js";

export type SavedSignalfd = SignalfdsRecord["signalfds"][number];

// ================================================================ checkpoint half

/** The mask of each signalfd of `files`, through its lowest fd (a dup of one is a sharer). */
export function collectSignalfds(pid: number, files: FdEntry[], shared: SharedFd[]): SavedSignalfd[] {
  return firstOfEachDescription(files, shared, "signalfd").map((f) => parseSignalfd(pid, f.fd, readProcText(pid, `fdinfo/${f.fd}`)));
}

/** fdinfo's "sigmask: <hex>" (bit N-1: signal N). */
export function parseSignalfd(pid: number, fd: number, fdinfo: string): SavedSignalfd {
  const mask = /^sigmask:\s*([0-9a-f]{16})$/m.exec(fdinfo);
  if (!mask) throw new CrError(`unexpected fdinfo of signalfd ${fd} of process ${pid}: "${fdinfo.slice(0, 120)}"`, { code: "EPROTO", pid, fd });
  return { fd, mask: BigInt(`0x${mask[1]}`) };
}

// ================================================================ restart half

/** The signalfd of descriptor `fd`, made again in cr with its mask and status flags. */
export function makeSignalfd(fd: FdRecord, signalfd: SavedSignalfd): number {
  return createSignalfd(signalfd.mask, fd.openFlags & SIGNALFD.SFD_NONBLOCK);
}

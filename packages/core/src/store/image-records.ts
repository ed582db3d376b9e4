import { FileKind, PipeEnd, VmaFlags, type FdRecord, type ProcessRecord, type VmaRecord } from "@cr/format";
import type { FdEntry } from "../objects/files.js";
import { attrFlags } from "../objects/mapping-attrs.js";
import { RLIMIT_RESOURCES, type ProcessInfo } from "../objects/task.js";
import type { Vma } from "../objects/vmas.js";

/** How what /proc shows becomes the records of an image (the format knows nothing of /proc). */

export function processRecord(info: ProcessInfo, brk: bigint): ProcessRecord {
  const { mm, creds, caps } = info;
  return {
    pid: info.pid,
    ppid: info.ppid,
    pgid: info.pgrp,
    sid: info.session,
    comm: info.comm,
    exePath: info.exe,
    cwd: info.cwd,
    umask: info.umask,
    personality: info.personality,
    startCode: mm.startCode,
    endCode: mm.endCode,
    startData: mm.startData,
    endData: mm.endData,
    startBrk: mm.startBrk,
    brk,
    startStack: mm.startStack,
    argStart: mm.argStart,
    argEnd: mm.argEnd,
    envStart: mm.envStart,
    envEnd: mm.envEnd,
    auxv: info.auxv,
    cmdline: info.cmdline,
    uid: creds.uid.real,
    gid: creds.gid.real,
    euid: creds.uid.effective,
    egid: creds.gid.effective,
    suid: creds.uid.saved,
    sgid: creds.gid.saved,
    fsuid: creds.uid.fs,
    fsgid: creds.gid.fs,
    groups: creds.groups,
    capInheritable: caps.inheritable,
    capPermitted: caps.permitted,
    capEffective: caps.effective,
    capBounding: caps.bounding,
    capAmbient: caps.ambient,
    rlimits: Object.entries(RLIMIT_RESOURCES).map(([name, { number }]) => ({
      resource: number,
      ...info.rlimits[name as keyof typeof RLIMIT_RESOURCES],
    })),
  };
}

export function vmaRecord(vma: Vma): VmaRecord {
  const flag = (on: boolean, bit: number) => (on ? bit : 0);
  return {
    start: vma.start,
    end: vma.end,
    prot: (vma.prot.read ? 1 : 0) | (vma.prot.write ? 2 : 0) | (vma.prot.exec ? 4 : 0),
    flags:
      flag(vma.shared, VmaFlags.SHARED) |
      flag(vma.flags.growsdown, VmaFlags.GROWSDOWN) |
      flag(vma.kind !== "file", VmaFlags.ANONYMOUS) |
      flag(vma.flags.droppable, VmaFlags.DROPPABLE) |
      flag(vma.flags.noReserve, VmaFlags.NORESERVE) |
      flag(vma.flags.accountable, VmaFlags.ACCOUNT) |
      attrFlags(vma),
    pgoff: vma.offset,
    path: vma.kind === "file" ? (vma.path ?? vma.name) : "",
    device: vma.file?.dev ?? 0n,
    inode: vma.inode,
    fileSize: vma.file?.size ?? 0n,
    mtimeNs: vma.file?.mtimeNs ?? 0n,
    name: vma.kind === "file" ? "" : vma.name,
  };
}

const FD_KINDS: Record<FdEntry["kind"], number> = {
  regular: FileKind.REGULAR,
  directory: FileKind.DIRECTORY,
  devnull: FileKind.DEVICE,
  devzero: FileKind.DEVICE,
  devurandom: FileKind.DEVICE,
  tty: FileKind.DEVICE,
  pipe: FileKind.PIPE,
  fifo: FileKind.FIFO,
  "unix-socket": FileKind.SOCKET,
  shmem: FileKind.SHMEM,
  eventfd: FileKind.EVENTFD,
  epoll: FileKind.EPOLL,
  "inet-socket": FileKind.INET_SOCKET,
  "pty-master": FileKind.PTY_MASTER,
  timerfd: FileKind.TIMERFD,
  signalfd: FileKind.SIGNALFD,
  inotify: FileKind.INOTIFY,
  pidfd: FileKind.PIDFD,
  ghost: FileKind.GHOST,
  unsupported: FileKind.UNSUPPORTED,
};

export function fdRecord(entry: FdEntry): FdRecord {
  const isPipe = entry.kind === "pipe" || entry.kind === "fifo";
  return {
    fd: entry.fd,
    fdFlags: entry.cloexec ? 1 : 0,
    kind: FD_KINDS[entry.kind],
    path: entry.path ?? entry.target,
    openFlags: entry.openFlags,
    offset: entry.pos,
    device: entry.dev,
    inode: entry.ino,
    size: entry.size,
    mtimeNs: entry.mtimeNs,
    pipeId: isPipe ? entry.ino : 0n,
    pipeEnd: !isPipe ? PipeEnd.NONE : entry.end === "write" ? PipeEnd.WRITE : PipeEnd.READ,
  };
}

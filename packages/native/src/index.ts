// @cr/native: everything in cr that touches the kernel. The C++ methods are thin and
// synchronous; names, defaults and types live here.
import { createRequire } from "node:module";

import { SIGNALS } from "./kernel-abi.js";

// Kernel ABI facts (syscall numbers, flags, struct layouts): plain constants, kernel-abi.ts.
export * from "./kernel-abi.js";

/** A kernel call failed: `code` is the errno name ("ESRCH"), `syscall` what was called. */
export class NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  pid?: number;
  address?: bigint;
  path?: string;

  constructor(message: string, props: { code: string; errno: number; syscall: string; pid?: number; address?: bigint; path?: string }) {
    super(message);
    this.name = "NativeError";
    this.code = props.code;
    this.errno = props.errno;
    this.syscall = props.syscall;
    if (props.pid !== undefined) this.pid = props.pid;
    if (props.address !== undefined) this.address = props.address;
    if (props.path !== undefined) this.path = props.path;
  }
}

export interface Feature {
  available: boolean;
  reason: string;
}

export interface KernelFeatures {
  pageSize: number;
  softDirty: Feature;
  writeProtectScan: Feature;
  /** PAGEMAP_SCAN reports guard regions (PAGE_IS_GUARD, Linux 6.14+). */
  guardScan: Feature;
  xstateSize: number;
}

export interface RseqConfig {
  address: bigint;
  length: number;
  signature: number;
  flags: number;
}

export interface RobustList {
  head: bigint;
  length: bigint;
}

export interface ScanOptions {
  /** Write-protect the matched pages again in the same walk (PM_SCAN_WP_MATCHING). */
  writeProtect: boolean;
  /** Values the masked category bits must have (PAGE_IS_* bits). */
  categories: number;
  /** Bits of `categories` that are checked; defaults to `categories` ("all of these set"). */
  categoryMask?: number;
  /** At least one of these bits must be set. */
  categoryAnyof?: number;
  /** Category bits reported back in each region. */
  returnMask: number;
  /** Stop after this many pages. */
  maxPages?: number;
}

interface Addon {
  setErrorClass(cls: typeof NativeError): void;
  probeKernel(): KernelFeatures;
  freeze(pid: number, timeoutMs: number): number[];
  thaw(tids: number[]): void;
  forkFrozenCopy(tid: number): FrozenCopyMade;
  frozenCopyName: string;
  dropFrozenCopy(pid: number): Promise<void>;
  getRegs(tid: number): Buffer;
  setRegs(tid: number, regs: Buffer): void;
  getXState(tid: number): Buffer;
  setXState(tid: number, xstate: Buffer): void;
  getSigmask(tid: number): bigint;
  setSigmask(tid: number, mask: bigint): void;
  getRseq(tid: number): RseqConfig;
  getRobustList(tid: number): RobustList;
  peekPendingSignals(tid: number, shared: boolean): Buffer[];
  seccompFilters(tid: number): SeccompFilter[];
  suspendSeccomp(tid: number): void;
  injectSyscall(tid: number, nr: number, args: bigint[]): bigint;
  injectQueries(tid: number, calls: BigUint64Array, outs: Uint32Array): { results: BigInt64Array; out: Buffer };
  scratch(tid: number): ScratchArea;
  readMemory(pid: number, ranges: BigUint64Array, into: Buffer, unpinned: boolean): number;
  readMemoryRanges(pid: number, ranges: BigUint64Array, into: Buffer, unpinned: boolean): Promise<number>;
  readHashed(fd: number, into: Buffer, length: number, position: number, tail: number): Promise<bigint>;
  xxh64(data: Buffer): bigint;
  xxh64Pages(data: Buffer, into: BigUint64Array, first: number): void;
  writeMemory(pid: number, address: bigint, data: Buffer): void;
  readPagemap(pid: number, start: bigint, end: bigint): BigUint64Array;
  pagemapScan(pid: number, start: bigint, end: bigint, opts: ScanOptions): BigUint64Array;
  pagemapScanRanges(pid: number, ranges: BigUint64Array, opts: ScanOptions): BigUint64Array;
  secureWritten(members: WrittenMember[], returnMask: number, into: Buffer, thaw: number[]): SecuredWritten;
  pagemapScanRangesAsync(pid: number, ranges: BigUint64Array, opts: ScanOptions): Promise<BigUint64Array>;
  registerWriteTracking(tid: number, ranges: BigUint64Array, mmRegistered: boolean): { fd: number; registered: BigUint64Array };
  openFillUffd(tid: number, ranges: BigUint64Array): FillUffd;
  lockFile(fd: number, mode: LockMode, wait: boolean): boolean;
  alignedBuffer(bytes: number): Buffer;
  openAt(dirFd: number, path: string, flags: number, mode: number): number;
  openTmpfile(dirFd: number, mode: number): number;
  linkTmpfile(fd: number, dirFd: number, name: string): void;
  mkdirAt(dirFd: number, name: string, mode: number): void;
  renameAt(fromDirFd: number, from: string, toDirFd: number, to: string): void;
  linkAt(fromDirFd: number, from: string, toDirFd: number, to: string): void;
  unlinkAt(dirFd: number, name: string, directory: boolean): void;
  unlinkAtAsync(dirFd: number, name: string): Promise<void>;
  listDir(dirFd: number): string[];
  kernelFileSystem(fd: number): string | null;
  closeOnExecFrom(first: number): void;
  openFlags: { O_PATH: number };
  createPipe(): [number, number];
  createEventfd(count: bigint, flags: number): number;
  createEpoll(flags: number): number;
  createInotify(flags: number, wds: number[], masks: number[], paths: string[]): number;
  openByHandle(mountFd: number, type: number, handle: Buffer): number;
  queuedBytes(fd: number): number;
  epollWatchIs(pid: number, epfd: number, tfd: number, toff: number, fd: number): boolean;
  inetSocketState(fd: number): InetSocketState;
  socketDomain(fd: number): SocketDomain;
  terminalSettings(fd: number): TerminalSettings;
  lz4Compress(src: Uint8Array, dst: Uint8Array): number;
  lz4CompressBlock(src: Uint8Array, dst: Uint8Array): Promise<[number, bigint]>;
  lz4Decompress(src: Uint8Array, dst: Uint8Array): void;
  tcpRepairSave(fd: number): TcpConnectionState;
  tcpRepairRestore(fd: number, local: Buffer, peer: Buffer, saved: TcpConnectionState): void;
  tcpRepairOn(fd: number): void;
  setTermios(fd: number, termios: Buffer): void;
  setForeground(fd: number, pgrp: number): void;
  openPtyPair(flags: number): { master: number; index: number };
  setWinsize(fd: number, winsize: Buffer): void;
  inetSocketOptions(fd: number, family: number, protocol: number): InetSocketOption[];
  setInetSocketOptions(fd: number, options: InetSocketOption[]): void;
  inetSocket(family: number, type: number, protocol: number): number;
  bindInet(fd: number, address: Buffer): void;
  connectInet(fd: number, address: Buffer): void;
  catchUpTimerfd(fd: number): void;
  createTimerfd(clockid: number, flags: number, settimeFlags: number, valueNs: bigint, intervalNs: bigint, ticks: bigint): number;
  createSignalfd(mask: bigint, flags: number): number;
  sameOpenFile(pidA: number, fdA: number, pidB: number, fdB: number): boolean;
  sameMemory(pidA: number, pidB: number): boolean;
  peekPipe(path: string): Buffer;
  dataExtents(fd: number, from: bigint, to: bigint): BigUint64Array;
  memfdCreate(name: string, flags: number): number;
  fileSeals(fd: number): number;
  addSeals(fd: number, seals: number): void;
  fillPipe(writeFd: number, bytes: Buffer): void;
  mkfifo(path: string, mode: number): void;
  pipeCapacity(fd: number): number;
  setPipeCapacity(fd: number, bytes: number): number;
  takeFd(pid: number, fd: number): number;
  fileOwner(fd: number): FileOwner;
  fcntl: FcntlConstants;
  pipes: { PIPE_DEFAULT_SIZE: number };
  spawnStub(options: StubOptions): number;
  placeTrampolineAt(pid: number, address: bigint): void;
  waitThreadStop(tid: number): void;
  releaseRestored(tids: number[]): void;
  killTraced(tids: number[], reapLeader: boolean): void;
  waitExit(pid: number): { code: number | null; signal: number | null };
  cloneStub(parentPid: number, childPid: number): number;
  makeZombie(pid: number, code: number, signal: number): void;
  writeMemoryRanges(pid: number, ranges: BigUint64Array, data: Buffer, uffd: number, registered: BigUint64Array, source: Buffer, copies: Float64Array): Promise<number>;
  unixSockets(): UnixSocketDiag[];
  socketOptions(fd: number): SocketOptions;
  peekSocket(fd: number, type: number, eofAtEnd: boolean): QueuedMessage[];
  unixSocket(type: number): number;
  unixSocketPair(type: number): [number, number];
  bindUnix(fd: number, name: Buffer): void;
  listenSocket(fd: number, backlog: number): void;
  connectUnix(fd: number, name: Buffer): void;
  sendMessages(fd: number, messages: Buffer[], to: Buffer | null): void;
  shutdownSocket(fd: number, how: number): void;
  setSocketOptions(fd: number, options: SocketOptions): void;
  pageCategories: Record<PageCategoryName, number>;
}

/**
 * Where SIGIO/SIGURG of an open file description go (F_GETOWN_EX, F_GETSIG, F_GETOWNER_UIDS):
 * `type` F_OWNER_TID, F_OWNER_PID or F_OWNER_PGRP, `pid` 0 when there is no owner (or it is gone),
 * `signal` 0 for SIGIO, `uid`/`euid` those of whoever set the owner.
 */
export interface FileOwner {
  type: number;
  pid: number;
  signal: number;
  uid: number;
  euid: number;
}

/** fcntl commands and flags, record lock types and flock(2) operations (uapi), for the calls a restart injects. */
export interface FcntlConstants {
  F_SETFD: number;
  F_SETFL: number;
  F_SETLK: number;
  F_SETOWN_EX: number;
  F_SETSIG: number;
  F_SETLEASE: number;
  F_OFD_SETLK: number;
  F_OWNER_TID: number;
  F_OWNER_PID: number;
  F_OWNER_PGRP: number;
  /** Record lock and lease types (struct flock l_type, F_SETLEASE). */
  F_RDLCK: number;
  F_WRLCK: number;
  /** The descriptor flag of F_SETFD. */
  FD_CLOEXEC: number;
  O_ASYNC: number;
  /** flock(2) operations. */
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
}

/** A userfaultfd held by cr, registered for missing pages over `registered` ((start, end) pairs). */
export interface FillUffd {
  fd: number;
  registered: BigUint64Array;
}

export type LockMode = "exclusive" | "shared" | "unlock";

type PageCategoryName =
  | "PAGE_IS_WPALLOWED"
  | "PAGE_IS_WRITTEN"
  | "PAGE_IS_FILE"
  | "PAGE_IS_PRESENT"
  | "PAGE_IS_SWAPPED"
  | "PAGE_IS_PFNZERO"
  | "PAGE_IS_HUGE"
  | "PAGE_IS_SOFT_DIRTY"
  | "PAGE_IS_GUARD";

const require = createRequire(import.meta.url);
// The addon is built by node-gyp when the package is installed; a missing build is a set-up
// error and is rethrown as it is.
const addon = require("../build/Release/cr_native.node") as Addon;
addon.setErrorClass(NativeError);

export const {
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_PFNZERO,
  PAGE_IS_HUGE,
  PAGE_IS_SOFT_DIRTY,
  PAGE_IS_GUARD,
} = addon.pageCategories;

let kernel: KernelFeatures | undefined;

/** Probes page size, dirty-tracking backends and XSAVE size once; later calls return the cached record. */
export function probeKernel(): KernelFeatures {
  kernel ??= addon.probeKernel();
  return kernel;
}

/** Stops every thread of `pid` under ptrace; returns the tids, thread-group leader first. */
export function freeze(pid: number, timeoutMs = 5000): number[] {
  return addon.freeze(pid, timeoutMs);
}

/** Releases frozen threads exactly as they were (no signal, injected state put back). */
export function thaw(tids: number[]): void {
  addon.thaw(tids);
}

/** A frozen copy, and the page faults of its go-between, which its parent has reaped (native frozen-copy.h). */
export interface FrozenCopyMade {
  pid: number;
  reapedFaults: bigint;
}

/**
 * A copy-on-write copy of the frozen thread's process (native frozen-copy.h), an orphan: its
 * memory stays the process's memory of now while the process runs on. It never runs; drop it
 * with dropFrozenCopy.
 */
export function forkFrozenCopy(tid: number): FrozenCopyMade {
  return addon.forkFrozenCopy(tid);
}

/** The comm of every frozen copy. */
export const FROZEN_COPY_NAME = addon.frozenCopyName;

/** Kills a frozen copy at once; resolves once it is gone (init, or a subreaper above the process copied, reaps it). Never rejects. */
export function dropFrozenCopy(pid: number): Promise<void> {
  return addon.dropFrozenCopy(pid);
}

export function getRegs(tid: number): Buffer {
  return addon.getRegs(tid);
}

export function setRegs(tid: number, regs: Buffer): void {
  addon.setRegs(tid, regs);
}

/** XSAVE area (NT_X86_XSTATE), or the 512-byte FXSAVE area where XSAVE is missing. */
export function getXState(tid: number): Buffer {
  return addon.getXState(tid);
}

export function setXState(tid: number, xstate: Buffer): void {
  addon.setXState(tid, xstate);
}

export function getSigmask(tid: number): bigint {
  return addon.getSigmask(tid);
}

export function setSigmask(tid: number, mask: bigint): void {
  addon.setSigmask(tid, mask);
}

/** The thread's rseq registration; address 0n when it has none. */
export function getRseq(tid: number): RseqConfig {
  return addon.getRseq(tid);
}

export function getRobustList(tid: number): RobustList {
  return addon.getRobustList(tid);
}

/** Queued siginfo_t records (128 bytes each): the thread's own queue, or the process-wide one. */
export function peekPendingSignals(tid: number, shared = false): Buffer[] {
  return addon.peekPendingSignals(tid, shared);
}

/** One seccomp filter of a thread: its flags (SECCOMP_FILTER_FLAG_LOG) and BPF program (8-byte instructions). */
export interface SeccompFilter {
  flags: number;
  program: Buffer;
}

/** The seccomp filters of stopped tracee `tid`, oldest first (needs CAP_SYS_ADMIN). */
export function seccompFilters(tid: number): SeccompFilter[] {
  return addon.seccompFilters(tid);
}

/** Until it is detached, seized thread `tid` (injected syscalls too) bypasses its seccomp filters. */
export function suspendSeccomp(tid: number): void {
  addon.suspendSeccomp(tid);
}

/** Runs syscall `nr` in frozen thread `tid`; returns the raw result (negative errno on failure). */
export function injectSyscall(tid: number, nr: number, args: bigint[] = []): bigint {
  return addon.injectSyscall(tid, nr, args);
}

/** A syscall that only reads: `out` bytes of output go to a place in the scratch area given as argument `out.arg`. */
export interface Query {
  nr: number;
  args: bigint[];
  out?: { arg: number; size: number };
}

/** A query's raw result (negative errno on failure) and its output. */
export interface QueryAnswer {
  result: bigint;
  out: Buffer;
}

/**
 * Runs `queries` in frozen thread `tid` in one go, as many as fit the scratch area a stop of
 * the thread (an injectSyscall costs two). Only for syscalls that change nothing of the program's.
 */
export function injectQueries(tid: number, queries: Query[]): QueryAnswer[] {
  const calls = new BigUint64Array(queries.length * 7);
  const outs = new Uint32Array(queries.length * 2);
  queries.forEach((q, i) => {
    calls[i * 7] = BigInt(q.nr);
    calls.set(q.args.map((a) => BigInt.asUintN(64, a)), i * 7 + 1);
    outs.set([q.out?.arg ?? 0xffffffff, q.out?.size ?? 0], i * 2);
  });
  const { results, out } = addon.injectQueries(tid, calls, outs);
  let at = 0;
  return queries.map((q, i) => {
    const size = q.out?.size ?? 0;
    at += size;
    return { result: results[i]!, out: out.subarray(at - size, at) };
  });
}

export interface ScratchArea {
  address: bigint;
  size: number;
  /** The trampoline's pages, [start, end): cr's, not the program's. */
  trampoline: { start: bigint; end: bigint };
  /** Past the scratch area, where the tracker's history lives (trackers/history.ts): nothing else writes there. */
  trackerSlot: { address: bigint; size: number };
}

/** A writable area in the target (inside the cr trampoline) for injected syscalls' arguments. */
export function scratch(tid: number): ScratchArea {
  return addon.scratch(tid);
}

/**
 * Copies (address, length) ranges back to back into `into`; returns the bytes read. `unpinned`
 * reads through /proc/PID/mem without pinning the pages: for a frozen copy, whose pages a pin
 * would make the kernel copy first (memory.cc ReadRangesUnpinned).
 */
export function readMemory(pid: number, ranges: BigUint64Array, into: Buffer, unpinned = false): number {
  return addon.readMemory(pid, ranges, into, unpinned);
}

/** readMemory on libuv's thread pool: the caller goes on while the pages are read. */
export function readMemoryRanges(pid: number, ranges: BigUint64Array, into: Buffer, unpinned = false): Promise<number> {
  return addon.readMemoryRanges(pid, ranges, into, unpinned);
}

export function writeMemory(pid: number, address: bigint, data: Buffer): void {
  addon.writeMemory(pid, address, data);
}

/** One /proc/PID/pagemap entry per page of [start, end). */
export function readPagemap(pid: number, start: bigint, end: bigint): BigUint64Array {
  return addon.readPagemap(pid, start, end);
}

/** PAGEMAP_SCAN over [start, end): (start, end, categories) triples. */
export function pagemapScan(pid: number, start: bigint, end: bigint, opts: ScanOptions): BigUint64Array {
  return addon.pagemapScan(pid, start, end, opts);
}

/** pagemapScan of each (start, end) pair of `ranges` in turn, in one call: the triples of all, in order. */
export function pagemapScanRanges(pid: number, ranges: BigUint64Array, opts: ScanOptions): BigUint64Array {
  return addon.pagemapScanRanges(pid, ranges, opts);
}

/** pagemapScanRanges on libuv's thread pool: the caller goes on meanwhile. */
export function pagemapScanRangesAsync(pid: number, ranges: BigUint64Array, opts: ScanOptions): Promise<BigUint64Array> {
  return addon.pagemapScanRangesAsync(pid, ranges, opts);
}

/** One process of the frozen tree for secureWritten: ranges are (start, end) pairs. */
export interface WrittenMember {
  pid: number;
  /** Tracked ranges the scan re-arms. */
  armed: BigUint64Array;
  /** Tracked ranges it only reads (pages left unarmed). */
  unarmed: BigUint64Array;
  /** Pages to copy besides the written ones, disjoint from the tracked ranges. */
  extra: BigUint64Array;
  /** Pages beyond which its pages are secured otherwise: then nothing is copied, and the tree stays frozen. */
  copyAtMost: number;
}

export interface SecuredWritten {
  /** Per member, the armed and unarmed ranges' written pages as (start, end, categories) triples; null: a mapping lost its registration. */
  scans: ([BigUint64Array, BigUint64Array] | null)[];
  /** Whether every member's pages were copied into `into` (in address order, member after member) and `thaw` thawed. */
  copied: boolean;
  /** Per member, the bytes of its pages to copy: where its pages begin in `into` follows. */
  bytes: number[];
}

/**
 * The end of an increment's freeze in one call: each member's written pages found and re-armed
 * (PAGEMAP_SCAN), then, if every member's pages (those written that hold a page, and `extra`)
 * are within its copyAtMost and fit `into`, copied there and the threads `thaw` let go.
 * Nothing is allocated for the pages; nothing runs in JavaScript between the re-arm and the thaw.
 */
export function secureWritten(members: WrittenMember[], returnMask: number, into: Buffer, thaw: number[]): SecuredWritten {
  return addon.secureWritten(members, returnMask, into, thaw);
}

/**
 * Registers (start, end) ranges for userfaultfd WP_ASYNC write tracking inside the target and
 * write-protects them; returns the target's tracking uffd number and the ranges accepted.
 * `mmRegistered`: whether any mapping of the target is registered already (smaps `uw`). If none
 * is, a tracking uffd found in the target came with a fork from its parent (a uffd acts on the
 * mm that created it): it is closed, and one of the target's own made.
 */
export function registerWriteTracking(tid: number, ranges: BigUint64Array, mmRegistered: boolean): { fd: number; registered: BigUint64Array } {
  return addon.registerWriteTracking(tid, ranges, mmRegistered);
}

/**
 * A userfaultfd of the stopped target's mm, registered for missing pages over each range the
 * kernel accepts (anonymous private mappings), held by this process only: writeMemoryRanges
 * fills those pages with UFFDIO_COPY. Close `fd` once they are in (that unregisters them),
 * before the target runs or registers its write tracking.
 */
export function openFillUffd(tid: number, ranges: BigUint64Array): FillUffd {
  return addon.openFillUffd(tid, ranges);
}

/** flock(2); with wait=false returns false instead of blocking when the lock is held. */
export function lockFile(fd: number, mode: LockMode, wait = true): boolean {
  return addon.lockFile(fd, mode, wait);
}

/** O_PATH (for openAt): a descriptor that only names the file; with O_NOFOLLOW, a link itself. */
export const { O_PATH } = addon.openFlags;

/**
 * Opens `path` beneath directory `dirFd` without following a symbolic link at any step (ELOOP
 * instead), close-on-exec. `flags` are fs.constants' O_* (and O_PATH); a FIFO does not block.
 */
export function openAt(dirFd: number, path: string, flags: number, mode = 0): number {
  return addon.openAt(dirFd, path, flags, mode);
}

/** An unnamed file in directory `dirFd` (O_TMPFILE): it vanishes if cr dies before linkTmpfile. */
export function openTmpfile(dirFd: number, mode: number): number {
  return addon.openTmpfile(dirFd, mode);
}

/** Gives an O_TMPFILE file its name in directory `dirFd`; fails with EEXIST if `name` exists. */
export function linkTmpfile(fd: number, dirFd: number, name: string): void {
  addon.linkTmpfile(fd, dirFd, name);
}

/** mkdirat(2): `name` in directory `dirFd`. */
export function mkdirAt(dirFd: number, name: string, mode: number): void {
  addon.mkdirAt(dirFd, name, mode);
}

/** renameat(2): replaces `to` if it exists; a link is renamed as itself. */
export function renameAt(fromDirFd: number, from: string, toDirFd: number, to: string): void {
  addon.renameAt(fromDirFd, from, toDirFd, to);
}

/** A hardlink `to` of `from`; a symbolic link would be linked as itself, never followed. */
export function linkAt(fromDirFd: number, from: string, toDirFd: number, to: string): void {
  addon.linkAt(fromDirFd, from, toDirFd, to);
}

/** unlinkat(2): a file or link (`directory`: an empty directory). */
export function unlinkAt(dirFd: number, name: string, directory = false): void {
  addon.unlinkAt(dirFd, name, directory);
}

/** unlinkAt of a file on libuv's thread pool: freeing a large file's extents takes a while. */
export function unlinkAtAsync(dirFd: number, name: string): Promise<void> {
  return addon.unlinkAtAsync(dirFd, name);
}

/** The names in directory `dirFd`, without . and .. */
export function listDir(dirFd: number): string[] {
  return addon.listDir(dirFd);
}

/** The kernel interface file system `fd` is on ("proc", "sysfs", ...), or null for one that stores files. */
export function kernelFileSystem(fd: number): string | null {
  return addon.kernelFileSystem(fd);
}

/** Every descriptor from `first` on becomes close-on-exec: what cr inherited reaches no program it starts. */
export function closeOnExecFrom(first: number): void {
  addon.closeOnExecFrom(first);
}

/**
 * Reads `length` bytes at `position` of `fd` into `into` on libuv's thread pool, and resolves
 * with the XXH64 of the last `tail` of them, hashed there too: a PAGES body read this way is
 * checked without hashing it on the main thread. `into` must not be touched until it settles.
 */
export function readHashed(fd: number, into: Buffer, length: number, position: number, tail: number): Promise<bigint> {
  return addon.readHashed(fd, into, length, position, tail);
}

/** XXH64 (seed 0), the image format's chunk body hash, in native code. */
export function xxh64(data: Buffer): bigint {
  return addon.xxh64(data);
}

/** The XXH64 of each 4 KiB page of `data`, into `into` from index `first` on. */
export function xxh64Pages(data: Buffer, into: BigUint64Array, first: number): void {
  addon.xxh64Pages(data, into, first);
}

/** A Buffer starting on a 4096-byte boundary (O_DIRECT I/O); `bytes` a multiple of 4096. */
export function alignedBuffer(bytes: number): Buffer {
  return addon.alignedBuffer(bytes);
}

/** A real pipe, [readFd, writeFd], both close-on-exec. Node's child_process gives socketpairs. */
export function createPipe(): [number, number] {
  return addon.createPipe();
}

/**
 * A new eventfd in cr, close-on-exec, holding `count` (up to 2^64 - 2), with `flags`
 * (EVENTFD.EFD_SEMAPHORE, EVENTFD.EFD_NONBLOCK) as saved.
 */
export function createEventfd(count: bigint, flags: number): number {
  return addon.createEventfd(count, flags);
}

/** A new epoll instance in cr, close-on-exec, non-blocking when `flags` has O_NONBLOCK. */
export function createEpoll(flags: number): number {
  return addon.createEpoll(flags);
}

/** A watch of an inotify instance: its watch descriptor, events, and the watched file's path. */
export interface InotifyWatch {
  wd: number;
  mask: number;
  path: string;
}

/**
 * A new inotify instance in cr, close-on-exec, non-blocking when `flags` has O_NONBLOCK, with
 * `watches` (ascending by wd) under their very watch descriptors. EEXIST: two name one file now.
 */
export function createInotify(flags: number, watches: InotifyWatch[]): number {
  return addon.createInotify(flags, watches.map((w) => w.wd), watches.map((w) => w.mask), watches.map((w) => w.path));
}

/** An O_PATH descriptor on the file `handle` names on the filesystem of `mountFd` (open_by_handle_at). ESTALE: the file is gone. */
export function openByHandle(mountFd: number, type: number, handle: Buffer): number {
  return addon.openByHandle(mountFd, type, handle);
}

/** The bytes waiting to be read on cr's descriptor `fd` (FIONREAD): an inotify instance's events, a terminal's input. */
export function queuedBytes(fd: number): number {
  return addon.queuedBytes(fd);
}

/** A watch of an epoll instance: the descriptor number it was registered under, and which of the watches under that number (fdinfo order). */
export interface EpollWatchSlot {
  epfd: number;
  tfd: number;
  toff: number;
}

/**
 * Whether the file `slot` watches in process `pid` is the open file description of its `fd`
 * (kcmp KCMP_EPOLL_TFD). ENOENT: no such watch; EBADF: `fd` is closed.
 */
export function epollWatchIs(pid: number, slot: EpollWatchSlot, fd: number): boolean {
  return addon.epollWatchIs(pid, slot.epfd, slot.tfd, slot.toff, fd);
}

/**
 * timerfd_gettime on cr's descriptor `fd` of a timerfd: a periodic timer that fired is re-armed
 * by the kernel only when its expirations are read or its time asked, so this counts the ones
 * since into its ticks and arms it for the next, as the program's next read would; fdinfo then
 * shows them all and the time left.
 */
export function catchUpTimerfd(fd: number): void {
  addon.catchUpTimerfd(fd);
}

/** A timerfd as timerfd_create and timerfd_settime make it, with its unread expirations. */
export interface TimerfdSpec {
  clockid: number;
  /** TIMERFD.TFD_NONBLOCK or 0. */
  flags: number;
  /** TIMERFD.TFD_TIMER_ABSTIME, TIMERFD.TFD_TIMER_CANCEL_ON_SET. */
  settimeFlags: number;
  /** The time left to the next expiration (0: disarmed); with TFD_TIMER_ABSTIME armed at the clock's now + this. */
  valueNs: bigint;
  intervalNs: bigint;
  /** Expirations not read yet (set by TFD_IOC_SET_TICKS after arming, which clears them). */
  ticks: bigint;
}

/** A new timerfd in cr, close-on-exec, armed and holding its unread expirations as `spec` says. */
export function createTimerfd(spec: TimerfdSpec): number {
  return addon.createTimerfd(spec.clockid, spec.flags, spec.settimeFlags, spec.valueNs, spec.intervalNs, spec.ticks);
}

/** A new signalfd in cr, close-on-exec, for the signals of `mask` (bit N-1: signal N), with `flags` (SIGNALFD.SFD_NONBLOCK). */
export function createSignalfd(mask: bigint, flags: number): number {
  return addon.createSignalfd(mask, flags);
}

/** A descriptor of a process. */
export interface ProcessFd {
  pid: number;
  fd: number;
}

/** Whether two descriptors, of one process or two, share one open file description (kcmp KCMP_FILE). */
export function sameOpenFile(a: ProcessFd, b: ProcessFd): boolean {
  return addon.sameOpenFile(a.pid, a.fd, b.pid, b.fd);
}

/** Whether processes A and B share one address space (kcmp KCMP_VM): a vfork child before its exec. */
export function sameMemory(pidA: number, pidB: number): boolean {
  return addon.sameMemory(pidA, pidB);
}

/** The bytes buffered in the pipe or FIFO `path` names (e.g. /proc/PID/fd/N), left in place (tee). */
export function peekPipe(path: string): Buffer {
  return addon.peekPipe(path);
}

/**
 * The byte ranges of [from, to) of file `fd` that hold data, (start, end) pairs (SEEK_DATA and
 * SEEK_HOLE): what a shared memory object holds, whoever's page tables map it (shmem.h).
 */
export function dataExtents(fd: number, from: bigint, to: bigint): BigUint64Array {
  return addon.dataExtents(fd, from, to);
}

/** memfd_create(2) in this process, close-on-exec: `flags` MEMFD.MFD_* (kernel-abi.ts). */
export function memfdCreate(name: string, flags: number): number {
  return addon.memfdCreate(name, flags);
}

/** The seals of the memfd (or tmpfs file) cr's descriptor `fd` is on (F_GET_SEALS): MEMFD.F_SEAL_* bits. */
export function fileSeals(fd: number): number {
  return addon.fileSeals(fd);
}

/** Adds seals to a memfd (F_ADD_SEALS): MEMFD.F_SEAL_* bits. */
export function addSeals(fd: number, seals: number): void {
  addon.addSeals(fd, seals);
}

/** Writes `bytes` into a pipe, grown first if they would not fit in it. */
export function fillPipe(writeFd: number, bytes: Buffer): void {
  addon.fillPipe(writeFd, bytes);
}

/** The capacity of the pipe or FIFO cr's descriptor `fd` is on, in bytes (F_GETPIPE_SZ). */
export function pipeCapacity(fd: number): number {
  return addon.pipeCapacity(fd);
}

/** Sets the capacity of a pipe (F_SETPIPE_SZ) and returns the one the kernel gave (rounded up). */
export function setPipeCapacity(fd: number, bytes: number): number {
  return addon.setPipeCapacity(fd, bytes);
}

/** The capacity of a new pipe: the kernel's 16 pages. */
export const { PIPE_DEFAULT_SIZE } = addon.pipes;

/**
 * A descriptor of cr's own (close-on-exec) on the open file description of fd `fd` of `pid`
 * (pidfd_getfd): the same description, so reading its state through it changes nothing. EBADF
 * when the process has no such fd.
 */
export function takeFd(pid: number, fd: number): number {
  return addon.takeFd(pid, fd);
}

/** The owner and signal of the open file description cr's descriptor `fd` is on. */
export function fileOwner(fd: number): FileOwner {
  return addon.fileOwner(fd);
}

export const FCNTL: FcntlConstants = addon.fcntl;

// ---------------------------------------------------------------- UNIX sockets

/** What sock_diag says of one AF_UNIX socket (sockets.h). */
export interface UnixSocketDiag {
  inode: bigint;
  /** SOCKET.SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET. */
  type: number;
  /** SOCKET.TCP_ESTABLISHED (connected), TCP_CLOSE (unconnected) or TCP_LISTEN. */
  state: number;
  /** The peer's inode; 0n when it has none, or its peer is closed or not accepted yet. */
  peer: bigint;
  /** The bound address: a path, or an abstract name after a 0 byte; empty when unnamed. */
  name: Buffer;
  /** The socket file a path name was bound to (its dev the kernel's own dev_t: splitKernelDev), or null. */
  file: { dev: bigint; ino: bigint } | null;
  /** Listening: connections waiting to be accepted; else bytes queued to be read. */
  rqueue: number;
  /** Listening: its backlog; else bytes it sent that its peer has not read yet. */
  wqueue: number;
  /** Listening: the inodes of the sockets whose connections wait to be accepted, in order. */
  pending: bigint[];
  /** SOCKET.RCV_SHUTDOWN | SEND_SHUTDOWN bits. */
  shutdown: number;
}

/** The options of a socket a program may rely on (getsockopt SOL_SOCKET); buffer sizes as getsockopt gives them. */
export interface SocketOptions {
  type: number;
  passcred: boolean;
  passsec: boolean;
  passpidfd: boolean;
  passrights: boolean;
  sndbuf: number;
  rcvbuf: number;
  rcvlowat: number;
  /** SO_PEEK_OFF; -1 when off. */
  peekOffset: number;
  rcvtimeoUs: number;
  sndtimeoUs: number;
}

/** One message waiting to be read (a stream's bytes are one), and its sender's address (empty: unnamed). */
export interface QueuedMessage {
  data: Buffer;
  from: Buffer;
}

/** Every AF_UNIX socket of cr's network namespace, from one sock_diag dump. */
export function unixSockets(): UnixSocketDiag[] {
  return addon.unixSockets();
}

/** The options of the socket cr's descriptor `fd` is on. */
export function socketOptions(fd: number): SocketOptions {
  return addon.socketOptions(fd);
}

/**
 * What waits to be read in the socket cr's `fd` is on, left in place (MSG_PEEK, walked with
 * SO_PEEK_OFF, which is put back). `eofAtEnd`: its receive side is shut (a seqpacket then reads
 * an end after its last message).
 */
export function peekSocket(fd: number, type: number, eofAtEnd: boolean): QueuedMessage[] {
  return addon.peekSocket(fd, type, eofAtEnd);
}

/** A new AF_UNIX socket of `type`, close-on-exec. */
export function unixSocket(type: number): number {
  return addon.unixSocket(type);
}

/** Two AF_UNIX sockets of `type` connected to each other, close-on-exec. */
export function unixSocketPair(type: number): [number, number] {
  return addon.unixSocketPair(type);
}

/** bind(2) to `name`: a path, or an abstract name after a 0 byte. */
export function bindUnix(fd: number, name: Buffer): void {
  addon.bindUnix(fd, name);
}

export function listenSocket(fd: number, backlog: number): void {
  addon.listenSocket(fd, backlog);
}

/** connect(2) to the socket bound to `name`, without waiting (EAGAIN: its backlog is full). */
export function connectUnix(fd: number, name: Buffer): void {
  addon.connectUnix(fd, name);
}

/** Sends each message in order without blocking, to `to` or else to the peer; the sender's buffer grown to hold them. */
export function sendMessages(fd: number, messages: Buffer[], to: Buffer | null = null): void {
  addon.sendMessages(fd, messages, to);
}

/** shutdown(2) with SOCKET.SHUT_RD, SHUT_WR or SHUT_RDWR. */
export function shutdownSocket(fd: number, how: number): void {
  addon.shutdownSocket(fd, how);
}

/** Sets every option that differs from the socket's own. */
export function setSocketOptions(fd: number, options: SocketOptions): void {
  addon.setSocketOptions(fd, options);
}

/** Creates a FIFO at `path` (mode before the umask). */
export function mkfifo(path: string, mode: number): void {
  addon.mkfifo(path, mode);
}

// ---------------------------------------------------------------- restart

/** The restore stub program, built next to the addon (binding.gyp, target restore_stub). */
export const RESTORE_STUB = require.resolve("../build/Release/restore-stub");
/** The program that holds the pseudo-terminal master of a program `cr restart --detach` put on a new terminal (stub/terminal-holder.c). */
export const TERMINAL_HOLDER = require.resolve("../build/Release/terminal-holder");

export interface StubOptions {
  stub: string;
  /** The PID to take (clone3 set_tid), or 0 for any. */
  pid: number;
  /** [target fd in the stub, source fd in this process]. */
  fds: [number, number][];
  cwd: string;
}

/** Starts the restore stub as a child, stopped at its exec under ptrace; returns its pid. */
export function spawnStub(options: StubOptions): number {
  return addon.spawnStub(options);
}

/** The trampoline created next in process `pid` goes exactly at `address`. */
export function placeTrampolineAt(pid: number, address: bigint): void {
  addon.placeTrampolineAt(pid, address);
}

/** Waits for the first stop of a thread that was auto-attached at its creation. */
export function waitThreadStop(tid: number): void {
  addon.waitThreadStop(tid);
}

/** Detaches every thread of a restored process: it runs from here on. */
export function releaseRestored(tids: number[]): void {
  addon.releaseRestored(tids);
}

/**
 * SIGKILLs a process cr traces (leader first in `tids`: a half-built one, or a frozen target) and
 * reaps every thread: a traced thread stays a zombie until its tracer waits for it, and only then
 * is its parent told. A leader that is cr's own child is reaped too unless `reapLeader` is false
 * (it was spawned by code in this process that will reap it).
 */
export function killTraced(tids: number[], reapLeader: boolean): void {
  addon.killTraced(tids, reapLeader);
}

/** Blocks until child `pid` exits. */
export function waitExit(pid: number): { code: number | null; signal: number | null } {
  return addon.waitExit(pid);
}

// ---------------------------------------------------------------- process trees

/**
 * Creates a child of the stopped, traced stub `parentPid` (which has its trampoline), by a
 * clone3 injected into it, so the child's parent is that process: getppid(), wait() and SIGCHLD
 * work as they did. It gets PID `childPid` (set_tid), or any with 0. The child is a stub like
 * the one spawnStub starts: stopped, traced with the same options, its trampoline inherited (at
 * the same address), ready for injectSyscall; its registers are to be rebuilt. A taken PID is a
 * NativeError with code EEXIST.
 */
export function cloneStub(parentPid: number, childPid: number): number {
  return addon.cloneStub(parentPid, childPid);
}

/** How a process ended: exit `code`, or killed by `signal` (exactly one of them is a number). */
export interface ExitStatus {
  code?: number | null;
  signal?: number | null;
}

/**
 * Makes the stopped, traced stub `pid` (created by cloneStub) a zombie of its parent, ended as
 * `status` says: exit_group(code), or the signal's default action (no core is dumped, so the
 * status has no core flag). cr consumes its tracer's notification only: the zombie stays for
 * its real parent to reap (state Z, exit_code in /proc/PID/stat), and the SIGCHLD that hand-over
 * sends the parent is taken back unless it was pending already. A signal that does not end a
 * process by default (SIGCHLD, SIGSTOP, ...) is a NativeError with code EINVAL.
 */
export function makeZombie(pid: number, status: ExitStatus): void {
  const code = status.code ?? null, signal = status.signal ?? null;
  if ((code === null) === (signal === null)) throw new TypeError("makeZombie: give either an exit code or a signal");
  if (code !== null && !(Number.isInteger(code) && code >= 0 && code <= 255)) throw new TypeError(`makeZombie: exit code ${code} is not in 0..255`);
  if (signal !== null && !(Number.isInteger(signal) && signal >= 1 && signal <= SIGNALS._NSIG)) throw new TypeError(`makeZombie: signal ${signal} is not in 1..${SIGNALS._NSIG}`);
  addon.makeZombie(pid, code ?? 0, signal ?? 0);
}

/** Copies into a buffer, done before it is written: (sourceOffset, dataOffset, length) triples. */
export interface Gather {
  source: Buffer;
  copies: Float64Array;
}

const NO_GATHER: Gather = { source: Buffer.alloc(0), copies: new Float64Array(0) };

/**
 * Writes `data` to the (address, length) ranges of the target, back to back, on libuv's thread
 * pool: `data` (and `gather.source`) must not be touched until the promise settles. Resolves
 * with the bytes written. With `fill` (openFillUffd), pages inside its registered ranges are
 * placed by UFFDIO_COPY. `gather`'s copies into `data` are made first, on the pool as well.
 */
export function writeMemoryRanges(pid: number, ranges: BigUint64Array, data: Buffer, fill?: FillUffd, gather: Gather = NO_GATHER): Promise<number> {
  return addon.writeMemoryRanges(pid, ranges, data, fill?.fd ?? -1, fill?.registered ?? new BigUint64Array(0), gather.source, gather.copies);
}

// ---------------------------------------------------------------- network sockets

/** What cr reads of a TCP or UDP socket through its own descriptor on it (inet-sockets.h). */
export interface InetSocketState {
  /** SOCKET.AF_INET or AF_INET6. */
  family: number;
  type: number;
  /** SOCKET.IPPROTO_TCP or IPPROTO_UDP. */
  protocol: number;
  /** The sockaddr getsockname gives. */
  local: Buffer;
  /** The sockaddr getpeername gives; empty when not connected. */
  peer: Buffer;
  /** TCP: TCP_INFO's tcpi_state (SOCKET.TCP_LISTEN, TCP_CLOSE, TCP_ESTABLISHED ...); UDP: -1. */
  tcpState: number;
  /** Listening: listen()'s backlog and the connections waiting to be accepted. */
  backlog: number;
  pending: number;
  /** UDP: the size of the next datagram waiting to be read (SIOCINQ); 0 when none. */
  inq: number;
}

/** One socket option: a linger as its seconds (-1: off), a timeout in microseconds. */
export interface InetSocketOption {
  level: number;
  option: number;
  value: number;
}

/** What a socket is: SO_DOMAIN, SO_TYPE, SO_PROTOCOL. */
export interface SocketDomain {
  family: number;
  type: number;
  protocol: number;
}

/** What the socket cr's `fd` is on is: an unbound one is in no /proc/net table. */
export function socketDomain(fd: number): SocketDomain {
  return addon.socketDomain(fd);
}

export function inetSocketState(fd: number): InetSocketState {
  return addon.inetSocketState(fd);
}

/** The options of the socket cr's `fd` is on that a program may rely on (those that apply to its family and protocol). */
export function inetSocketOptions(fd: number, family: number, protocol: number): InetSocketOption[] {
  return addon.inetSocketOptions(fd, family, protocol);
}

/** Sets each option that differs from the socket's. */
export function setInetSocketOptions(fd: number, options: InetSocketOption[]): void {
  addon.setInetSocketOptions(fd, options);
}

/** A new socket of cr's, close-on-exec. */
export function inetSocket(family: number, type: number, protocol: number): number {
  return addon.inetSocket(family, type, protocol);
}

export function bindInet(fd: number, address: Buffer): void {
  addon.bindInet(fd, address);
}

/** connect(2); a UDP socket's does not wait. */
export function connectInet(fd: number, address: Buffer): void {
  addon.connectInet(fd, address);
}

// ---------------------------------------------------------------- terminals

/** What a program set on its terminal: raw struct termios2 (TCGETS2) and struct winsize (TIOCGWINSZ). */
export interface TerminalSettings {
  termios: Buffer;
  winsize: Buffer;
}

/** The settings of the terminal cr's `fd` is on. */
export function terminalSettings(fd: number): TerminalSettings {
  return addon.terminalSettings(fd);
}

/** TCSETS2: gives the terminal `fd` is on the settings terminalSettings read. */
export function setTermios(fd: number, termios: Buffer): void {
  addon.setTermios(fd, termios);
}

/** A new pseudo-terminal pair of cr's, unlocked: its master and the index of its slave /dev/pts/INDEX. */
export function openPtyPair(flags: number): { master: number; index: number } {
  return addon.openPtyPair(flags);
}

/** TIOCSWINSZ: the window size terminalSettings read. */
export function setWinsize(fd: number, winsize: Buffer): void {
  addon.setWinsize(fd, winsize);
}

/** tcsetpgrp on cr's controlling terminal, SIGTTOU blocked (cr may be in the background by then). */
export function setForeground(fd: number, pgrp: number): void {
  addon.setForeground(fd, pgrp);
}

// ---------------------------------------------------------------- TCP connections (TCP_REPAIR)

/** What TCP_REPAIR reads of an established connection (tcp-repair.h). */
export interface TcpConnectionState {
  /** Where the receive queue ends (rcv_nxt) and the send queue ends (write_seq). */
  inqSeq: number;
  outqSeq: number;
  /** Received, not read yet. */
  inq: Buffer;
  /** Written, not acknowledged; its last `unsent` bytes were never sent. */
  outq: Buffer;
  unsent: number;
  mss: number;
  /** TCP_INFO's tcpi_options: TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4. */
  options: number;
  sndWscale: number;
  rcvWscale: number;
  /** TCP_TIMESTAMP: the connection's timestamp clock. */
  timestamp: number;
  window: { sndWl1: number; sndWnd: number; maxWindow: number; rcvWnd: number; rcvWup: number };
}

/** The state of the established connection cr's `fd` is on; repair mode is off again after. */
export function tcpRepairSave(fd: number): TcpConnectionState {
  return addon.tcpRepairSave(fd);
}

/** A new TCP socket of cr's made the saved connection, bound to `local` and "connected" to `peer` without a handshake. */
export function tcpRepairRestore(fd: number, local: Buffer, peer: Buffer, saved: TcpConnectionState): void {
  addon.tcpRepairRestore(fd, local, peer, saved);
}

/** Repair mode on: the socket's close sends nothing to the peer. */
export function tcpRepairOn(fd: number): void {
  addon.tcpRepairOn(fd);
}

// ---------------------------------------------------------------- LZ4 (liblz4)

/**
 * Compresses `src` into `dst` as one LZ4 block (the reference library): the compressed length,
 * or -1 when it does not fit in `dst`. The same contract as @cr/format's lz4Compress.
 */
export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  return addon.lz4Compress(src, dst);
}

/** Decodes one LZ4 block into exactly dst.length bytes; EINVAL on a malformed block. */
/**
 * lz4Compress on libuv's pool (other cores): resolves the compressed length (or -1 when it does
 * not fit in `dst`) and the XXH64 of the block's body (the compressed bytes, or `src` if -1).
 * Neither buffer may change until it settles.
 */
export function lz4CompressBlock(src: Uint8Array, dst: Uint8Array): Promise<[number, bigint]> {
  return addon.lz4CompressBlock(src, dst);
}

export function lz4Decompress(src: Uint8Array, dst: Uint8Array): void {
  addon.lz4Decompress(src, dst);
}


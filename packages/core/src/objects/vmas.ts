/**
 * The address space of a process as /proc/PID/smaps shows it: one Vma per mapping, with its
 * protection, backing (file, anonymous, kernel pseudo-mapping), VmFlags and sizes, and for file
 * mappings the identity of the file (through /proc/PID/map_files) so a restart can tell whether
 * the file changed since the checkpoint. Read-only: nothing in the target is touched.
 */
import type { Problem } from "../check.js";
import { CrError } from "../errors.js";
import { FS_MAGIC, PAGE_SIZE, STAT } from "@cr/native";
import { fileIdentity, fileSystemOf, procPath, readProcLink, readProcText, requireProcess, statProc, type FileIdentity } from "../process/procfs.js";

/** The name of the page cr maps into a target to inject syscalls; never saved. */
export const CR_TRAMPOLINE_NAME = "[anon:cr-trampoline]";

/**
 * What backs a mapping.
 * - file: a regular file (maybe deleted), mapped private or shared
 * - anonymous: no name at all
 * - named-anonymous: `[anon:NAME]` (prctl PR_SET_VMA_ANON_NAME)
 * - heap, stack, vdso, vvar, vvar_vclock, vsyscall: the kernel's pseudo-mappings
 * - shared-anonymous: MAP_SHARED|MAP_ANONYMOUS (shmem, shown as `/dev/zero (deleted)`)
 * - memfd: a memfd_create file (`/memfd:NAME (deleted)`)
 * - sysv-shm: a SysV shared memory segment (`/SYSV0000abcd (deleted)`)
 * - anon-inode: a mapping of an anon-inode file, e.g. `anon_inode:[io_uring]`
 * - aio: the ring of an AIO context (io_setup), shown as `/[aio] (deleted)`
 * - secretmem: memfd_secret memory, `/secretmem (deleted)`: its pages are out of everyone's reach but its owner's
 * - other: any other pseudo name in brackets
 */
export type VmaKind =
  | "file"
  | "anonymous"
  | "named-anonymous"
  | "heap"
  | "stack"
  | "vdso"
  | "vvar"
  | "vvar_vclock"
  | "vsyscall"
  | "shared-anonymous"
  | "memfd"
  | "sysv-shm"
  | "anon-inode"
  | "aio"
  | "secretmem"
  | "other";

/** Every VmFlags mnemonic the kernel prints, with its meaning (fs/proc/task_mmu.c). */
export const VM_FLAG_NAMES = {
  rd: "readable",
  wr: "writable",
  ex: "executable",
  sh: "shared",
  mr: "mayRead",
  mw: "mayWrite",
  me: "mayExec",
  ms: "mayShare",
  gd: "growsdown",
  pf: "pfnmap",
  lo: "locked",
  io: "io",
  sr: "seqRead",
  rr: "randRead",
  dc: "dontCopy",
  de: "dontExpand",
  ac: "accountable",
  nr: "noReserve",
  ht: "hugetlb",
  sf: "syncFault",
  ar: "archSpecific",
  wf: "wipeOnFork",
  dd: "dontdump",
  bt: "arm64Bti",
  sd: "softDirty",
  mm: "mixedMap",
  hg: "hugepage",
  nh: "noHugepage",
  mg: "mergeable",
  um: "uffdMissing",
  uw: "uffdWp",
  mt: "arm64Mte",
  ui: "uffdMinor",
  ss: "shadowStack",
  dp: "droppable",
  sl: "sealed",
  lf: "lockOnFault",
  gu: "guard",
} as const;

export type VmFlagName = (typeof VM_FLAG_NAMES)[keyof typeof VM_FLAG_NAMES];
/** Named booleans for every known VmFlags mnemonic; `raw` keeps all of them, unknown ones too. */
export type VmFlags = { readonly [K in VmFlagName]: boolean } & { readonly raw: ReadonlySet<string> };

export interface Vma {
  start: bigint;
  end: bigint;
  prot: { read: boolean; write: boolean; exec: boolean };
  /** MAP_SHARED (the `s` in `rw-s`). */
  shared: boolean;
  /** File offset of `start` (pgoff in bytes). */
  offset: bigint;
  device: { major: number; minor: number };
  inode: bigint;
  /** The name /proc shows: a path, `[heap]`, `[anon:NAME]`, or "" for plain anonymous memory. */
  name: string;
  /** For file-like mappings: the path without the ` (deleted)` suffix (read through map_files). */
  path?: string;
  kind: VmaKind;
  /** The backing file has been unlinked (` (deleted)`). */
  deleted: boolean;
  flags: VmFlags;
  /** Resident and swapped-out bytes (smaps Rss/Swap). */
  rss: bigint;
  swap: bigint;
  /** For file mappings: dev/ino/size/mtime of the mapped file, read through map_files. */
  file?: FileIdentity;
  /**
   * A file mapping (kind "file") that is shared or deleted, of a file on a tmpfs: a shmem file
   * like a memfd, saved with its content (shmem-files.ts). Not asked of private mappings of a
   * file still there, which are mapped again from it like any file's.
   */
  onTmpfs?: boolean;
  /** A mapping of a deleted regular file not on a tmpfs: saved with its content (ghost-files.ts). */
  ghost?: boolean;
  /** A mapping cr itself placed in the target (the trampoline): never saved, never a problem. */
  internal: boolean;
  /** The mapping's line as /proc/PID/maps shows it (smaps repeats it as a header). */
  mapsLine: string;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([sp]) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?$/;
const DELETED = " (deleted)";

/** How many pages the mapping spans. */
export function vmaPages(vma: Pick<Vma, "start" | "end">): number {
  return Number((vma.end - vma.start) / BigInt(PAGE_SIZE));
}

/** The mappings as (start, end) pairs, the shape PAGEMAP_SCAN and userfaultfd registration want. */
export function vmaRanges(vmas: Vma[]): BigUint64Array {
  const ranges = new BigUint64Array(vmas.length * 2);
  vmas.forEach((v, i) => {
    ranges[2 * i] = v.start;
    ranges[2 * i + 1] = v.end;
  });
  return ranges;
}

/** The address range as the kernel writes it in map_files (lowercase hex, no 0x). */
export function vmaRangeName(vma: Pick<Vma, "start" | "end">): string {
  return `${vma.start.toString(16)}-${vma.end.toString(16)}`;
}

/** How often collectVmas re-reads smaps when a mapping vanishes between two reads. */
const ATTEMPTS = 3;

/**
 * Every mapping of `pid`, in address order. A running process may unmap a file between the
 * read of smaps and the read of its map_files entry: then smaps is read again (a frozen
 * process never needs this), and after a few tries it fails with CrError EAGAIN.
 */
export function collectVmas(pid: number): Vma[] {
  requireProcess(pid);
  for (let attempt = 1; ; attempt++) {
    try {
      return readVmas(pid);
    } catch (error) {
      if (!(error instanceof CrError && error.code === "ENOENT")) throw error;
      if (attempt === ATTEMPTS) {
        const path = procPath(pid, "smaps");
        throw new CrError(`the mappings of process ${pid} kept changing while cr read ${path}; try again or freeze it`, {
          code: "EAGAIN",
          pid,
          path,
          cause: error,
        });
      }
    }
  }
}

function readVmas(pid: number): Vma[] {
  const text = readProcText(pid, "smaps");
  const vmas: Vma[] = [];
  let current: Vma | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const header = HEADER.exec(line);
    if (header) {
      current = parseHeader(header);
      current.mapsLine = line;
      vmas.push(current);
      continue;
    }
    if (!current) throw badFormat(pid, line);
    parseDetail(current, line);
  }
  for (const vma of vmas) {
    if (isFileBacked(vma)) attachFile(pid, vma);
  }
  return vmas;
}

function parseHeader(m: RegExpExecArray): Vma {
  const name = m[11] ?? "";
  const deleted = name.endsWith(DELETED) && name.startsWith("/");
  const vma: Vma = {
    start: BigInt(`0x${m[1]}`),
    end: BigInt(`0x${m[2]}`),
    prot: { read: m[3] === "r", write: m[4] === "w", exec: m[5] === "x" },
    shared: m[6] === "s",
    offset: BigInt(`0x${m[7]}`),
    device: { major: parseInt(m[8]!, 16), minor: parseInt(m[9]!, 16) },
    inode: BigInt(m[10]!),
    name,
    kind: "other",
    deleted,
    flags: parseVmFlags(""),
    rss: 0n,
    swap: 0n,
    internal: name === CR_TRAMPOLINE_NAME,
    mapsLine: "",
  };
  vma.kind = classify(vma);
  if (name.startsWith("/")) vma.path = deleted ? name.slice(0, -DELETED.length) : name;
  return vma;
}

function classify(vma: Vma): VmaKind {
  const { name } = vma;
  if (name === "") return "anonymous";
  if (name === "[heap]") return "heap";
  if (name === "[stack]") return "stack";
  if (name === "[vdso]") return "vdso";
  if (name === "[vvar]") return "vvar";
  if (name === "[vvar_vclock]") return "vvar_vclock";
  if (name === "[vsyscall]") return "vsyscall";
  if (name.startsWith("[anon:")) return "named-anonymous";
  if (name.startsWith("anon_inode:")) return "anon-inode";
  if (name.startsWith("/[aio]") && vma.deleted) return "aio";
  if (name === `/secretmem${DELETED}`) return "secretmem";
  if (name.startsWith("/SYSV") && vma.deleted) return "sysv-shm";
  if (name.startsWith("/memfd:") && vma.deleted) return "memfd";
  if (name === `/dev/zero${DELETED}` && vma.shared) return "shared-anonymous";
  if (name.startsWith("/")) return "file";
  return "other";
}

function isFileBacked(vma: Vma): boolean {
  return vma.kind === "file" || vma.kind === "memfd" || vma.kind === "shared-anonymous" || vma.kind === "sysv-shm";
}

/**
 * Reads the mapped file's identity through /proc/PID/map_files/START-END, which opens the very
 * inode that is mapped (also when it was deleted or renamed). The link target also gives the
 * exact path: smaps escapes newlines in names, the link does not.
 */
function attachFile(pid: number, vma: Vma): void {
  const rel = `map_files/${vmaRangeName(vma)}`;
  const link = readProcLink(pid, rel);
  vma.path = link.endsWith(DELETED) && vma.deleted ? link.slice(0, -DELETED.length) : link;
  const st = statProc(pid, rel);
  vma.file = fileIdentity(st);
  // A device node of devtmpfs (also TMPFS_MAGIC) maps the device, not tmpfs pages.
  const regular = (Number(st.mode) & STAT.S_IFMT) === STAT.S_IFREG;
  if (vma.kind === "file" && (vma.shared || vma.deleted) && regular) vma.onTmpfs = fileSystemOf(pid, rel) === FS_MAGIC.TMPFS_MAGIC;
  if (vma.kind === "file" && vma.deleted && regular) vma.ghost = !vma.onTmpfs;
}

function parseDetail(vma: Vma, line: string): void {
  if (line.startsWith("VmFlags:")) {
    vma.flags = parseVmFlags(line.slice("VmFlags:".length));
    return;
  }
  const kb = /^(Rss|Swap):\s+(\d+) kB$/.exec(line);
  if (kb) {
    const bytes = BigInt(kb[2]!) * 1024n;
    if (kb[1] === "Rss") vma.rss = bytes;
    else vma.swap = bytes;
  }
}

/**
 * Parses the mnemonics of a `VmFlags:` line (all of them: unknown ones stay in `raw`). A process
 * has hundreds of mappings and a few dozen kinds of line: each kind is parsed once, and mappings
 * with the same line share its (read-only) flags.
 */
export function parseVmFlags(list: string): VmFlags {
  let flags = PARSED_FLAGS.get(list);
  if (flags) return flags;
  const raw = new Set(list.trim().split(/\s+/).filter((s) => s !== ""));
  const named: Record<string, boolean> = {};
  for (const [mnemonic, name] of Object.entries(VM_FLAG_NAMES)) named[name] = raw.has(mnemonic);
  flags = Object.freeze({ ...(named as { [K in VmFlagName]: boolean }), raw });
  if (PARSED_FLAGS.size >= 1024) PARSED_FLAGS.clear(); // a bound, never reached by one program's few kinds
  PARSED_FLAGS.set(list, flags);
  return flags;
}

const PARSED_FLAGS = new Map<string, VmFlags>();

function badFormat(pid: number, line: string): CrError {
  const path = procPath(pid, "smaps");
  return new CrError(`unexpected line in ${path} before any mapping: "${line}"`, { code: "EPROTO", pid, path });
}

/**
 * The mappings of a frozen process, quickly: smaps walks every page table to count Rss (11 ms
 * for 1 GiB), /proc/PID/maps does not. When the layout still equals `before` (read by
 * collectVmas while the process ran), `before` is taken as it is; else smaps is read again.
 * Flags can change without the layout changing: a madvise or mlock over a whole mapping in the
 * milliseconds between the two reads leaves the image with the flags the first read saw.
 */
export function collectVmasSince(pid: number, before: Vma[]): Vma[] {
  const now = readProcText(pid, "maps").split("\n").filter((line) => line !== "");
  const same = now.length === before.length && now.every((line, i) => line === before[i]!.mapsLine);
  return same ? before : collectVmas(pid);
}

/**
 * Marks cr's trampoline internal where the kernel could not name it [anon:cr-trampoline]
 * (no CONFIG_ANON_VMA_NAME): found by address. A trampoline page merged into a neighbouring
 * mapping stays part of it (saved like the program's memory: harmless, only wasteful).
 */
export function markTrampoline(vmas: Vma[], trampoline: { start: bigint; end: bigint }): Vma[] {
  return vmas.map((v) => (!v.internal && v.start >= trampoline.start && v.end <= trampoline.end ? { ...v, internal: true } : v));
}

/** What `cr check` says of a mapping cr cannot save or map again, or undefined. */
export function vmaProblem(vma: Vma): Problem | undefined {
  if (vma.internal) return undefined;
  const resource = `mapping ${vma.start.toString(16)}-${vma.end.toString(16)}`;
  const problem = (kind: string, reason: string): Problem => ({ resource, kind, reason });
  if (vma.kind === "sysv-shm") {
    const key = vma.path?.slice("/SYSV".length) ?? "?";
    return problem("sysv-shm", `SysV shared memory segment (key 0x${key}): cr cannot save SysV IPC objects; shmdt it first`);
  }
  if (vma.kind === "aio") {
    return problem("aio", "AIO context ring (io_setup): cr cannot save AIO contexts (their requests in flight live in the kernel); io_destroy it before the checkpoint");
  }
  if (vma.kind === "secretmem") {
    return problem("secretmem", "memfd_secret memory: its pages are removed from the kernel's own mappings, so no one but the program can read them to save them");
  }
  if (vma.kind === "anon-inode" && vma.name.includes("io_uring")) {
    return problem("io_uring", "io_uring ring mapping: cr cannot save io_uring instances");
  }
  if (vma.kind === "anon-inode") {
    return problem("device", `${vma.name} mapping: kernel object memory cr cannot recreate`);
  }
  if (vma.flags.shadowStack) {
    return problem("shadow-stack", "x86 shadow stack (CET): cr cannot recreate shadow stacks; run the program without them (GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)");
  }
  if (vma.flags.hugetlb) {
    return problem("hugetlb", `hugetlb mapping ${vma.name || "(anonymous)"}: cr cannot restore huge-page mappings yet`);
  }
  const isPseudo = ["vdso", "vvar", "vvar_vclock", "vsyscall"].includes(vma.kind);
  if (!isPseudo && (vma.flags.io || vma.flags.pfnmap)) {
    return problem("device", `device memory mapping ${vma.name || "(no name)"}: cr cannot save or remap device memory`);
  }
  // A shared writable file mapping is mapped again from its file: its pages are the file's.
  // Shared memory is saved (objects/shmem.ts, shmem-files.ts) unless another process maps it too.
  if (vma.shared && (vma.prot.write || vma.flags.mayWrite) && vma.kind !== "file" && vma.kind !== "shared-anonymous" && vma.kind !== "memfd") {
    return sharedProblem(vma, problem);
  }
  // A deleted regular file is saved with its content (shmem-files.ts on a tmpfs, else ghost-files.ts).
  if (vma.deleted && vma.kind === "file" && !vma.onTmpfs && !vma.ghost) {
    return problem("deleted-file", `mapping of deleted ${vma.path}, not a regular file: a restart cannot map it again`);
  }
  return undefined;
}

function sharedProblem(vma: Vma, problem: (kind: string, reason: string) => Problem): Problem {
  const why = "a restored process cannot share it with the processes that map it now";
  const file = vma.path ?? vma.name;
  return problem("shared-memory", `shared writable mapping of ${file}${vma.deleted ? " (deleted)" : ""}: ${why}`);
}

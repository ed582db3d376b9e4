import { closeSync, existsSync, constants as fsc, fstatSync, fsyncSync, openSync, readFileSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { getSystemErrorMap } from "node:util";
import { kernelFileSystem, linkAt, linkTmpfile, listDir, mkdirAt, O_PATH, openAt, openTmpfile, renameAt, STAT, unlinkAt, unlinkAtAsync } from "@cr/native";
import { CrError, errnoCode } from "../errors.js";

/**
 * Every file operation of the store (docs/store.md, "Another local user"). A store holds process
 * memory, so nothing in it may be something another user planted or can change: each path is
 * reached relative to a held directory descriptor, never through a symbolic link (openat2
 * RESOLVE_NO_SYMLINKS; the *at calls act on one name and follow none), and every directory and
 * file opened must belong to the caller and be writable by no one else.
 */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

type Kind = "file" | "directory";

/** A directory of the store, held open; `path` names it in messages. */
export class StoreDir {
  private constructor(
    private readonly fd: number,
    readonly path: string,
  ) {}

  /**
   * The store's own directory at `path`, as the user named it (links on the way there are the
   * user's own); with `create`, made with its missing parents (0700) if missing, else undefined.
   */
  static openTop(path: string, create: boolean): StoreDir | undefined {
    const fd = openNamed(path, create, path);
    if (fd === undefined) return undefined;
    closeIfThrows(fd, () => checkOwned(fd, path, "directory"));
    return new StoreDir(fd, path);
  }

  /** Subdirectory `name`; with `create`, made (0700) first if missing. */
  dir(name: string, create = false): StoreDir {
    if (create) this.mkdir(name);
    return new StoreDir(this.open(name, fsc.O_RDONLY | fsc.O_DIRECTORY, "directory"), join(this.path, name));
  }

  /** Runs `fn` with subdirectory `name` open (made first with `create`), and closes it. */
  withDir<T>(name: string, fn: (dir: StoreDir) => T, create = false): T {
    const dir = this.dir(name, create);
    try {
      return fn(dir);
    } finally {
      dir.close();
    }
  }

  /** File `name` (created 0600 with O_CREAT); the caller closes it. */
  openFile(name: string, flags: number): number {
    return this.open(name, flags, "file");
  }

  /**
   * Small file `name`'s identity (device, inode, size, change time: an atomic replace gives it a
   * new inode) and, unless that is `known`, its text.
   */
  readTextIfChanged(name: string, known: string | undefined): { identity: string; text?: string } {
    const fd = this.openFile(name, fsc.O_RDONLY);
    try {
      const st = fstatSync(fd, { bigint: true });
      const identity = `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}`;
      return identity === known ? { identity } : { identity, text: readFileSync(fd, "utf8") };
    } finally {
      closeSync(fd);
    }
  }

  /** The text of small file `name`. */
  readText(name: string): string {
    const fd = this.openFile(name, fsc.O_RDONLY);
    try {
      return readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  }

  /** What `name` is, a link itself and not its target; undefined if nothing has that name. */
  stat(name: string): Stats | undefined {
    let fd: number;
    try {
      fd = openAt(this.fd, name, O_PATH | fsc.O_NOFOLLOW);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return undefined;
      throw systemError("look up", join(this.path, name), error);
    }
    try {
      return fstatSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  has(name: string): boolean {
    return this.stat(name) !== undefined;
  }

  list(): string[] {
    return sys("list", this.path, () => listDir(this.fd));
  }

  /** An unnamed file in this directory (O_TMPFILE): it appears only with linkTmpfile. */
  tmpfile(): number {
    return sys("create a file in", this.path, () => openTmpfile(this.fd, FILE_MODE));
  }

  linkTmpfile(fd: number, name: string): void {
    sys("create", join(this.path, name), () => linkTmpfile(fd, this.fd, name));
  }

  /** A hardlink `toName` in `to` of file `name`. */
  link(name: string, to: StoreDir, toName = name): void {
    sys("link", join(to.path, toName), () => linkAt(this.fd, name, to.fd, toName));
  }

  rename(name: string, toName: string): void {
    sys("rename", `${join(this.path, name)} to ${toName}`, () => renameAt(this.fd, name, this.fd, toName));
  }

  /** Removes `name` if there, a directory with everything in it; a link goes, its target stays. */
  remove(name: string): void {
    const st = this.stat(name);
    if (st === undefined) return;
    if (st.isDirectory()) this.withDir(name, (dir) => dir.list().forEach((n) => dir.remove(n)));
    sys("remove", join(this.path, name), () => unlinkAt(this.fd, name, st.isDirectory()));
  }

  /**
   * Removes directory `name` of files (a coalesce's old branch): the files are unlinked all at
   * once on libuv's pool, so freeing the removed images' extents and cached pages is spread over
   * the cores instead of one file after the other, then the directory goes.
   */
  async removeAsync(name: string): Promise<void> {
    const dir = this.dir(name);
    try {
      // Settled, not all: the descriptor is closed only once no unlink uses it any more.
      const unlinks = dir.list().map((n) =>
        unlinkAtAsync(dir.fd, n).catch((error: unknown) => {
          throw systemError("remove", join(dir.path, n), error);
        }),
      );
      const results = await Promise.allSettled(unlinks);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      dir.close();
    }
    sys("remove", dir.path, () => unlinkAt(this.fd, name, true));
  }

  /**
   * Writes small file `name` so that readers see either the old or the new content, never a mix:
   * written and fsynced in an unnamed file, named only for the instant between link and rename.
   */
  writeAtomic(name: string, text: string): void {
    this.removeStaleTemporaries(name);
    const fd = this.tmpfile();
    const tmp = temporaryName(name, process.pid);
    try {
      sys("write", join(this.path, name), () => {
        writeSync(fd, text);
        fsyncSync(fd);
      });
      this.linkTmpfile(fd, tmp);
    } finally {
      closeSync(fd);
    }
    this.rename(tmp, name);
    this.sync(); // the rename itself survives a power loss
  }

  /**
   * The temporaries of `name` that writers killed between link and rename left (a process's
   * first write of `name` here looks): those of a process that is gone are removed, so that the
   * directory is again as it was before that write.
   */
  private removeStaleTemporaries(name: string): void {
    const key = join(this.path, name);
    if (sweptNames.has(key)) return;
    sweptNames.add(key);
    const prefix = `${name}.`;
    for (const entry of this.list()) {
      if (!entry.startsWith(prefix) || !entry.endsWith(".tmp")) continue;
      const pid = Number(entry.slice(prefix.length, -".tmp".length));
      if (Number.isSafeInteger(pid) && pid > 0 && temporaryName(name, pid) === entry && !existsSync(`/proc/${pid}`)) this.remove(entry);
    }
  }

  /** fsync: the names created or renamed in this directory are durable. */
  sync(): void {
    sys("sync", this.path, () => fsyncSync(this.fd));
  }

  close(): void {
    closeSync(this.fd);
  }

  private mkdir(name: string): void {
    try {
      mkdirAt(this.fd, name, DIR_MODE);
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw systemError("create", join(this.path, name), error);
    }
  }

  private open(name: string, flags: number, kind: Kind): number {
    const path = join(this.path, name);
    const fd = sys("open", path, () => openAt(this.fd, name, flags, FILE_MODE));
    closeIfThrows(fd, () => checkOwned(fd, path, kind));
    return fd;
  }
}

/** The directory `path` as named, made (with its parents) if missing and `create`; refused on a kernel file system. */
function openNamed(path: string, create: boolean, store: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw systemError("open store directory", path, error);
    return create ? createNamed(path, store) : undefined;
  }
  closeIfThrows(fd, () => {
    const kernel = kernelFileSystem(fd);
    if (kernel !== null) throw new CrError(`store ${store} is on ${kernel}, a kernel interface that stores no files: choose a directory on a disk`, { code: "BAD_STORE", path: store });
  });
  return fd;
}

/** Runs a check of a descriptor just opened, closing it if the check fails. */
function closeIfThrows(fd: number, check: () => void): void {
  try {
    check();
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** mkdir -p, one directory at a time (Node's recursive mkdirSync loops forever under /proc). */
function createNamed(path: string, store: string): number {
  const parent = openNamed(dirname(path), true, store)!;
  try {
    try {
      mkdirAt(parent, basename(path), DIR_MODE);
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw systemError("create store directory", path, error);
    }
    return sys("open store directory", path, () => openAt(parent, basename(path), fsc.O_RDONLY | fsc.O_DIRECTORY));
  } finally {
    closeSync(parent);
  }
}

/** A store path another user owns or can write to could have been planted, or changed under cr. */
function checkOwned(fd: number, path: string, kind: Kind): void {
  const st = fstatSync(fd);
  if (kind === "file" ? !st.isFile() : !st.isDirectory()) {
    throw new CrError(`store ${kind} ${path} is not a ${kind === "file" ? "regular file" : "directory"}`, { code: "BAD_STORE", path });
  }
  const me = process.geteuid?.() ?? 0;
  const { S_IALLUGO, S_IWGRP, S_IWOTH } = STAT;
  const mode = `mode ${(st.mode & S_IALLUGO).toString(8).padStart(4, "0")}`;
  if (st.uid !== me) throw new CrError(`store ${kind} ${path} is owned by uid ${st.uid} (${mode}), not by you (uid ${me})`, { code: "EPERM", path });
  if (st.mode & (S_IWGRP | S_IWOTH)) {
    const who = st.mode & S_IWOTH ? "every user" : "its group";
    throw new CrError(`store ${kind} ${path} can be written by ${who} (${mode}, owner uid ${st.uid}): only you may write to a store`, { code: "EPERM", path });
  }
}

/** Runs a file operation, a kernel failure becoming one line (systemError). */
function sys<T>(action: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw systemError(action, path, error);
  }
}

/**
 * A kernel failure as one line naming the action, the path and the reason with its errno name
 * ("cannot create /ro/s/runs: read-only file system (EROFS)"). Anything else is a bug: as it is.
 */
export function systemError(action: string, path: string, error: unknown): unknown {
  const errno = (error as { errno?: unknown } | null)?.errno;
  if (typeof errno !== "number") return error;
  const code = errnoCode(error) ?? "EIO";
  if (code === "ELOOP") {
    return new CrError(`${path} is a symbolic link: cr follows none in a store (another user could have planted it)`, { code, path, cause: error });
  }
  const reason = getSystemErrorMap().get(-Math.abs(errno))?.[1] ?? (error as Error).message;
  return new CrError(`cannot ${action} ${path}: ${reason} (${code})`, { code, path, cause: error });
}

/** Where writeAtomic names the new content of `name` for the instant before its rename. */
function temporaryName(name: string, pid: number): string {
  return `${name}.${pid}.tmp`;
}

/** The files whose stale temporaries this process has looked for (once each: a listing costs). */
const sweptNames = new Set<string>();

import { mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPEN, RLIMIT } from "@cr/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { collectFiles, isCrTrackingFd, type FdEntry } from "./files.js";

const { O_APPEND, O_CLOEXEC } = OPEN;

let bin: string;
let dir: string;
beforeAll(() => {
  bin = program("proc_target");
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-files-")));
  writeFileSync(join(dir, "data.bin"), Buffer.alloc(4 * 4096, 1));
});
afterAll(() => {
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

function byFd(entries: FdEntry[], fd: unknown): FdEntry {
  const entry = entries.find((e) => e.fd === fd);
  if (!entry) throw new Error(`no fd ${String(fd)} in ${entries.map((e) => e.fd).join(",")}`);
  return entry;
}

describe("collectFiles on a program with files, a directory, /dev/null, a pipe and a FIFO", () => {
  let target: Target;
  let fds: FdEntry[];
  beforeAll(async () => {
    target = await startTarget(bin, ["state", dir, join(dir, "data.bin")]);
    fds = collectFiles(target.pid);
  });
  afterAll(() => target.stop());

  it("lists fds in order, stdio as the pipes node gave it", () => {
    expect(fds.map((e) => e.fd)).toEqual([...fds.map((e) => e.fd)].sort((a, b) => a - b));
    expect(byFd(fds, 0)).toMatchObject({ kind: "pipe", end: "read" });
    expect(byFd(fds, 1)).toMatchObject({ kind: "pipe", end: "write" });
  });

  it("reads a regular file's offset, access mode and identity", () => {
    const st = statSync(join(dir, "data.bin"), { bigint: true });
    const reg = byFd(fds, target.ready.reg);
    expect(reg).toMatchObject({ kind: "regular", path: join(dir, "data.bin"), pos: 1234n, access: "readwrite", append: false, cloexec: false });
    expect(reg).toMatchObject({ dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, internal: false });
  });

  it("reads O_APPEND and O_CLOEXEC, and strips O_CLOEXEC from the flags to reopen with", () => {
    const app = byFd(fds, target.ready.app);
    expect(app).toMatchObject({ kind: "regular", path: join(dir, "app.log"), access: "write", append: true, cloexec: true });
    expect(app.flags & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(app.openFlags & O_CLOEXEC).toBe(0);
    expect(app.openFlags & O_APPEND).toBe(O_APPEND);
  });

  it("recognises the directory and /dev/null", () => {
    expect(byFd(fds, target.ready.dir)).toMatchObject({ kind: "directory", path: dir, access: "read" });
    expect(byFd(fds, target.ready.null)).toMatchObject({ kind: "devnull", path: "/dev/null", access: "write" });
  });

  it("recognises both ends of one pipe as the same pipe", () => {
    const read = byFd(fds, target.ready.pipeRead);
    const write = byFd(fds, target.ready.pipeWrite);
    expect(read).toMatchObject({ kind: "pipe", end: "read" });
    expect(write).toMatchObject({ kind: "pipe", end: "write" });
    expect(read.ino).toBe(write.ino);
    expect(read.target).toBe(`pipe:[${read.ino}]`);
    expect(byFd(fds, 0).ino).not.toBe(read.ino);
  });

  it("recognises the named FIFO with its path, inode and end", () => {
    const fifo = byFd(fds, target.ready.fifo);
    expect(fifo).toMatchObject({ kind: "fifo", path: join(dir, "fifo"), end: "read", nonblock: true });
    expect(fifo.ino).toBe(statSync(join(dir, "fifo"), { bigint: true }).ino);
  });

  it("marks a userfaultfd at the top of the fd range cr's own, and the program's own one not", () => {
    expect(target.ready.uffd).toBeGreaterThanOrEqual(0);
    expect(byFd(fds, 199)).toMatchObject({ kind: "unsupported", category: "userfaultfd", internal: true });
    expect(byFd(fds, target.ready.uffd)).toMatchObject({ kind: "unsupported", category: "userfaultfd", internal: false });
  });
});

describe("collectFiles on resources cr cannot save", () => {
  it("describes a TCP connection, a fanotify instance and an io_uring instance", async () => {
    const target = await startTarget(bin, ["check"]);
    try {
      const fds = collectFiles(target.pid);
      expect(byFd(fds, target.ready.socket)).toMatchObject({
        kind: "inet-socket",
        what: expect.stringMatching(new RegExp(`^TCP socket 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${String(target.ready.port)} \\(close-wait\\)$`)),
      });
      expect(byFd(fds, target.ready.fanotify)).toMatchObject({ kind: "unsupported", category: "fanotify", cloexec: true });
      expect(byFd(fds, target.ready.ring)).toMatchObject({ kind: "unsupported", category: "io_uring", what: "io_uring" });
    } finally {
      await target.stop();
    }
  });

  it("describes an io_uring, and takes a memfd for a shmem file", async () => {
    const target = await startTarget(bin, ["shared", dir]);
    try {
      const fds = collectFiles(target.pid);
      expect(byFd(fds, target.ready.memfd)).toMatchObject({ kind: "shmem", path: "/memfd:crtest", deleted: true });
      if (target.ready.ring !== -1) expect(byFd(fds, target.ready.ring)).toMatchObject({ category: "io_uring" });
    } finally {
      await target.stop();
    }
  });
});

describe("isCrTrackingFd", () => {
  const limits = { nofile: { cur: 1024n, max: RLIMIT.RLIM_INFINITY } };
  it("is true only for a userfaultfd within 16 fds of the soft RLIMIT_NOFILE", () => {
    expect(isCrTrackingFd({ fd: 1023, target: "anon_inode:[userfaultfd]" }, limits)).toBe(true);
    expect(isCrTrackingFd({ fd: 1008, target: "anon_inode:[userfaultfd]" }, limits)).toBe(true);
    expect(isCrTrackingFd({ fd: 1007, target: "anon_inode:[userfaultfd]" }, limits)).toBe(false);
    expect(isCrTrackingFd({ fd: 1023, target: "anon_inode:[eventfd]" }, limits)).toBe(false);
  });
});

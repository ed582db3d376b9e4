import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OPEN } from "@cr/native";
import { collectFiles } from "./files.js";
import { collectInotify, inotifyProblems, inotifyWarnings, makeInotify, parseMarks, type SavedInotify } from "./inotify.js";

// The instances are made in this process: the checkpoint half reads it as it reads any process.
const dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-inotify-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IN_MODIFY = 0x2;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_EXCL_UNLINK = 0x4000000;
const IN_ONESHOT = 0x80000000;

function file(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, "");
  return path;
}

/** An inotify instance made as a restart makes it, for `fn`; closed after. */
function withInstance<T>(saved: SavedInotify, openFlags: number, fn: (fd: number) => T): T {
  const fd = makeInotify({ fd: saved.fd, openFlags } as Parameters<typeof makeInotify>[0], saved);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

const marks = (fd: number) => parseMarks(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")).map((m) => ({ wd: m.wd, mask: m.mask }));
const ownFd = (fd: number) => collectFiles(process.pid).filter((f) => f.fd === fd);

describe("inotify instances", () => {
  it("are made again with every watch under its saved number and mask, and read back so", () => {
    const d = join(dir, "d");
    mkdirSync(d);
    const watches = [
      { wd: 1, mask: IN_CREATE | IN_DELETE, path: d },
      { wd: 3, mask: (IN_MODIFY | IN_ONESHOT) >>> 0, path: file("a") },
      { wd: 7, mask: IN_MODIFY | IN_EXCL_UNLINK, path: file("b") },
    ];
    withInstance({ fd: 5, watches }, OPEN.O_RDWR | OPEN.O_NONBLOCK, (fd) => {
      expect(marks(fd)).toEqual(watches.map(({ wd, mask }) => ({ wd, mask })));
      const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);
      expect(flags & OPEN.O_NONBLOCK).toBe(OPEN.O_NONBLOCK);
      // The numbers given back were read away with their IN_IGNORED: nothing is queued.
      expect(inotifyWarnings(process.pid, ownFd(fd), [])).toEqual([]);
      expect(collectInotify(process.pid, ownFd(fd), [])).toEqual([{ fd, watches }]);
      expect(inotifyProblems(process.pid, ownFd(fd))).toEqual([]);
    });
  });

  it("a blocking one stays blocking; the events queued at a snapshot are named", () => {
    const d = join(dir, "queued");
    mkdirSync(d);
    withInstance({ fd: 5, watches: [{ wd: 2, mask: IN_CREATE, path: d }] }, OPEN.O_RDONLY, (fd) => {
      expect(parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8) & OPEN.O_NONBLOCK).toBe(0);
      writeFileSync(join(d, "new"), "");
      expect(inotifyWarnings(process.pid, ownFd(fd), [])).toEqual([expect.stringMatching(new RegExp(`^inotify instance fd ${fd}: the \\d+ bytes of events queued at the checkpoint are not restored`))]);
    });
  });

  it("a watch of a deleted file is named by cr check and refused by a snapshot", () => {
    const path = file("gone");
    const held = openSync(path, "r"); // the inode, and so the watch, outlive the unlink
    try {
      withInstance({ fd: 5, watches: [{ wd: 1, mask: IN_MODIFY, path }] }, OPEN.O_RDONLY, (fd) => {
        unlinkSync(path);
        expect(inotifyProblems(process.pid, ownFd(fd))).toEqual([{ resource: `fd ${fd}`, kind: "inotify", reason: expect.stringMatching(new RegExp(`^inotify instance ${fd} watches a file \\(inode \\d+, watch descriptor 1\\) that was deleted`)) }]);
        expect(() => collectInotify(process.pid, ownFd(fd), [])).toThrow(new RegExp(`process ${process.pid}: inotify instance ${fd} watches a file`));
      });
    } finally {
      closeSync(held);
    }
  });

  it("a watch that now names the file of an earlier one cannot be made again (EEXIST)", () => {
    const path = file("twice");
    expect(() => withInstance({ fd: 5, watches: [{ wd: 1, mask: IN_MODIFY, path }, { wd: 2, mask: IN_MODIFY, path }] }, OPEN.O_RDONLY, () => undefined)).toThrow(expect.objectContaining({ code: "EEXIST" }));
  });
});

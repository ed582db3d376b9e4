import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OFFSET_MAX } from "@cr/native";
import { afterAll, describe, expect, it } from "vitest";
import { LockKind, LockType } from "@cr/format";
import { collectFiles, type FdEntry } from "./files.js";
import { describe as describeLock, lockProblems, lockRecords, parseLockLines } from "./locks.js";
import { collectSharedFds } from "./shared-fds.js";

const FDINFO = `pos:\t0
flags:\t0100002
mnt_id:\t26
ino:\t2278913
lock:\t1: POSIX  ADVISORY  WRITE 10525 fe:00:2278913 0 9
lock:\t2: POSIX  ADVISORY  READ 10525 fe:00:2278913 20 EOF
`;

function entry(fd: number, locks: string): FdEntry {
  return { fd, kind: "regular", internal: false, path: "/data", target: "/data", locks: parseLockLines(locks) } as FdEntry;
}

describe("parseLockLines", () => {
  it("reads each lock of an fdinfo, range by range, EOF as the kernel's OFFSET_MAX", () => {
    expect(parseLockLines(FDINFO)).toEqual([
      { kind: "POSIX", state: "ADVISORY", type: "WRITE", start: 0n, end: 9n },
      { kind: "POSIX", state: "ADVISORY", type: "READ", start: 20n, end: OFFSET_MAX },
    ]);
  });

  it("reads OFD locks (pid -1), flocks and leases", () => {
    const text = "lock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:5 12 14\nlock:\t2: FLOCK  ADVISORY  READ 7 fe:00:5 0 EOF\nlock:\t3: LEASE  ACTIVE    READ 7 fe:00:5 0 EOF\n";
    expect(parseLockLines(text).map((l) => `${l.kind} ${l.state} ${l.type}`)).toEqual(["OFDLCK ADVISORY WRITE", "FLOCK ADVISORY READ", "LEASE ACTIVE READ"]);
  });

  it("refuses a lock line it cannot read rather than dropping the lock", () => {
    expect(() => parseLockLines("lock:\tsomething else\n")).toThrow(/unexpected lock line/);
  });
});

describe("lockProblems", () => {
  it("accepts POSIX, OFD, flock locks and active leases", () => {
    expect(lockProblems(entry(3, FDINFO + "lock:\t3: LEASE  ACTIVE    WRITE 7 fe:00:5 0 EOF\n"))).toEqual([]);
  });

  it("names a lease being broken, which a restart cannot take mid-break", () => {
    const [problem] = lockProblems(entry(4, "lock:\t1: LEASE  BREAKING  UNLCK 7 fe:00:5 0 EOF\n"));
    expect(problem).toMatchObject({ resource: "fd 4", kind: "file-lock" });
    expect(problem!.reason).toMatch(/\/data holds a lease being broken/);
  });

  it("names a lock of a kind it does not know", () => {
    expect(lockProblems(entry(5, "lock:\t1: DELEG  ACTIVE    READ 7 fe:00:5 0 EOF\n"))[0]!.reason).toMatch(/a DELEG lock/);
  });
});

describe("lockRecords", () => {
  it("saves the locks of an open file once, through its lowest fd, not through its dups", () => {
    const flock = "lock:\t1: FLOCK  ADVISORY  WRITE 7 fe:00:5 0 EOF\n";
    expect(lockRecords([entry(3, flock), entry(4, flock), entry(5, FDINFO)], [{ fd: 4, sameAs: 3 }])).toEqual([
      { fd: 3, kind: LockKind.FLOCK, type: LockType.WRITE, start: 0n, end: OFFSET_MAX },
      { fd: 5, kind: LockKind.POSIX, type: LockType.WRITE, start: 0n, end: 9n },
      { fd: 5, kind: LockKind.POSIX, type: LockType.READ, start: 20n, end: OFFSET_MAX },
    ]);
  });

  it("describes each lock for the user", () => {
    expect(describeLock({ fd: 3, kind: LockKind.POSIX, type: LockType.WRITE, start: 0n, end: 9n })).toBe("POSIX write lock on bytes 0-9");
    expect(describeLock({ fd: 3, kind: LockKind.OFD, type: LockType.READ, start: 50n, end: OFFSET_MAX })).toBe("OFD read lock on bytes 50 to EOF");
    expect(describeLock({ fd: 3, kind: LockKind.FLOCK, type: LockType.READ, start: 0n, end: OFFSET_MAX })).toBe("flock (shared)");
    expect(describeLock({ fd: 3, kind: LockKind.LEASE, type: LockType.WRITE, start: 0n, end: OFFSET_MAX })).toBe("write lease");
  });
});

describe("collectSharedFds", () => {
  const dir = mkdtempSync(join(tmpdir(), "cr-shared-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("tells dups of one open file (stdout and stderr given the same fd) from a second open of the file", async () => {
    const path = join(dir, "out");
    const once = openSync(path, "w");
    const again = openSync(path, "a");
    const child = spawn("sleep", ["10"], { stdio: ["ignore", once, once, again] });
    closeSync(once);
    closeSync(again);
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      const files = collectFiles(child.pid!).filter((f) => f.path === path);
      expect(files.map((f) => f.fd)).toEqual([1, 2, 3]);
      expect(collectSharedFds(child.pid!, files)).toEqual([{ fd: 2, sameAs: 1 }]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

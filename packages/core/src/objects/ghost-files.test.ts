import { spawn } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GhostFileRecord } from "@cr/format";
import { dataExtents } from "@cr/native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrograms, program, startTarget, type Target } from "../../test-programs/targets.js";
import { checkProcess } from "../check.js";
import { collectFiles, type FdEntry } from "./files.js";
import { checkGhostFiles, ghostFileProblems, RestoredGhostFiles, TreeGhostFiles } from "./ghost-files.js";
import { readStat } from "./task.js";
import { collectVmas, type Vma } from "./vmas.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let target: Target;
let ready: { sparse: number; tmpfile: number; mapped: string; linked: number; gone: number; big: number };
let files: FdEntry[];
let vmas: Vma[];
/** The records of the files cr saves (all but those ghostFileProblems names). */
let records: GhostFileRecord[];

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "cr-ghosts-")));
  target = await startTarget(program("proc_target"), ["ghosts", dir]);
  ready = target.ready as typeof ready;
  files = collectFiles(target.pid);
  vmas = collectVmas(target.pid);
  const saved = files.filter((f) => f.fd === ready.sparse || f.fd === ready.tmpfile);
  records = new TreeGhostFiles([{ pid: target.pid, vmas, files: saved }]).records().get(target.pid) ?? [];
}, 30_000);
afterAll(async () => {
  await target.stop();
  cleanPrograms();
  rmSync(dir, { recursive: true, force: true });
});

const fdOf = (fd: number) => files.find((f) => f.fd === fd)!;
const recordOf = (name: string) => records.find((r) => r.path === join(dir, name))!;

describe("deleted files, checkpoint half", () => {
  it("takes a deleted regular file, O_TMPFILE or unlinked, for a ghost", () => {
    expect(fdOf(ready.sparse)).toMatchObject({ kind: "ghost", path: join(dir, "sparse"), nlink: 0n });
    expect(fdOf(ready.tmpfile)).toMatchObject({ kind: "ghost", path: expect.stringMatching(new RegExp(`^${dir}/#\\d+$`)) });
    expect(vmas.find((v) => v.start === BigInt(`0x${ready.mapped}`))).toMatchObject({ kind: "file", deleted: true, ghost: true, shared: true });
  });

  it("names one still linked elsewhere, one whose directory is gone and one past the size limit, and no other", () => {
    const problems = ghostFileProblems(target.pid, vmas, files);
    expect(problems.map((p) => p.resource).sort()).toEqual([`fd ${ready.big}`, `fd ${ready.gone}`, `fd ${ready.linked}`].sort());
    expect(problems.every((p) => p.kind === "deleted-file")).toBe(true);
    const reason = (fd: number) => problems.find((p) => p.resource === `fd ${fd}`)!.reason;
    expect(reason(ready.linked)).toMatch(/^deleted file .*\/linked: it still has 1 link\(s\) cr cannot find/);
    expect(reason(ready.gone)).toContain(`its directory ${join(dir, "sub")} is gone too`);
    expect(reason(ready.big)).toMatch(/it holds 256 MiB of data, more than cr saves of a deleted file \(255 MiB; holes do not count\): close it, or truncate it/);
  });

  it("saves each file's data, holes left out, with its size, mode and owner; an O_TMPFILE file as one", () => {
    const sparse = recordOf("sparse");
    expect(sparse).toMatchObject({ size: (3n << 20n) + 4n, mode: 0o640, uid: 0, gid: 0, tmpfile: 0 });
    expect(sparse.extents.map((e) => [e.offset, Buffer.from(e.bytes).subarray(0, 4).toString()])).toEqual([[0n, "head"], [3n << 20n, "tail"]]);
    expect(sparse.extents.reduce((sum, e) => sum + e.bytes.length, 0)).toBe(4096 + 4);
    const unnamed = records.find((r) => r.tmpfile === 1)!;
    expect(Buffer.from(unnamed.extents[0]!.bytes).toString()).toBe("unnamed");
    expect(recordOf("mapped").extents.map((e) => Buffer.from(e.bytes).toString())).toEqual(["m".repeat(8192)]); // through its mapping alone
  });

  it("names a deleted executable, which a restart cannot set", async () => {
    const copy = join(dir, "sleeper");
    copyFileSync("/bin/sleep", copy);
    chmodSync(copy, 0o755);
    const sleeper = spawn(copy, ["30"], { stdio: "ignore" });
    try {
      await new Promise((resolve) => sleeper.once("spawn", resolve));
      while (readStat(sleeper.pid!).state !== "S") await sleep(10); // loaded and asleep: its mappings settled
      unlinkSync(copy);
      const problems = ghostFileProblems(sleeper.pid!, collectVmas(sleeper.pid!), collectFiles(sleeper.pid!));
      expect(problems).toContainEqual({ resource: "exe", kind: "deleted-file", reason: expect.stringMatching(new RegExp(`^the executable ${copy} was deleted .*restart the program from its new one first$`)) });
    } finally {
      sleeper.kill("SIGKILL");
    }
  });

  it("names none handed over to a restart (--inherit-fd)", async () => {
    const handedOver = new Set([ready.big, ready.gone, ready.linked]);
    const { problems } = await checkProcess(target.pid, { handedOver });
    expect(problems.filter((p) => p.kind === "deleted-file")).toEqual([]);
  });

  it("refuses to save one past the size limit with one line", () => {
    expect(() => new TreeGhostFiles([{ pid: target.pid, vmas: [], files: [fdOf(ready.big)] }]).records()).toThrow(/^deleted file .*\/big \(fd \d+ of process \d+\): it holds 256 MiB of data/);
  });
});

describe("deleted files, restart half", () => {
  it("makes each file again, deleted, with its bytes, holes, size and mode; the file now at its path is left alone", () => {
    writeFileSync(join(dir, "sparse"), "a new file at the path");
    const before = readdirSync(dir).sort();
    const made = new RestoredGhostFiles(records, 7n);
    try {
      expect(readdirSync(dir).sort()).toEqual(before);
      expect(readFileSync(join(dir, "sparse"), "utf8")).toBe("a new file at the path");
      const fd = openSync(made.pathFor({ fd: 3, ...recordOf("sparse") }), "r");
      try {
        const st = fstatSync(fd, { bigint: true });
        expect({ nlink: st.nlink, size: st.size, mode: Number(st.mode) & 0o7777 }).toEqual({ nlink: 0n, size: (3n << 20n) + 4n, mode: 0o640 });
        expect([...dataExtents(fd, 0n, st.size)]).toEqual([0n, 4096n, 3n << 20n, (3n << 20n) + 4n]);
        const tail = Buffer.alloc(4);
        readSync(fd, tail, 0, 4, 3 << 20);
        expect(tail.toString()).toBe("tail");
      } finally {
        closeSync(fd);
      }
      const unnamed = records.find((r) => r.tmpfile === 1)!;
      expect(readlinkSync(made.pathFor({ fd: 4, ...unnamed }))).toMatch(new RegExp(`^${dir}/#\\d+ \\(deleted\\)$`));
      expect(readFileSync(made.pathFor({ fd: 4, ...unnamed }), "utf8")).toBe("unnamed");
    } finally {
      made.release();
    }
  });

  it("asks for --inherit-fd for a descriptor on a deleted file handed over, which the image did not save", () => {
    const made = new RestoredGhostFiles([], 7n);
    expect(() => made.pathFor({ fd: 5, device: 1n, inode: 2n })).toThrow("fd 5 was on a deleted file handed over at the checkpoint (--inherit-fd), not saved: restart with --inherit-fd 5:PATH to give it a file");
  });

  it("refuses an image whose file's directory is gone in one line", () => {
    const gone = { ...recordOf("sparse"), path: join(dir, "nowhere", "sparse") };
    expect(() => checkGhostFiles([gone], 7n)).toThrow(`deleted file ${gone.path} of checkpoint 7 cannot be made again: its directory ${join(dir, "nowhere")} is gone; recreate it to restart`);
  });
});

import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, constants as fsc, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StoreDir } from "./store-fs.js";

const root = mkdtempSync(join(tmpdir(), "cr-store-fs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let serial = 0;
/** A fresh store directory, and beside it (outside the store) a directory holding `file`. */
function fresh(): { dir: StoreDir; path: string; outside: string } {
  const path = join(root, `store-${serial}`);
  const outside = join(root, `outside-${serial++}`);
  mkdirSync(path, { mode: 0o700 });
  mkdirSync(outside);
  writeFileSync(join(outside, "file"), "outside\n");
  return { dir: StoreDir.openTop(path, false)!, path, outside };
}

describe("StoreDir", () => {
  it("writeAtomic removes the temporaries of writers that are gone (killed between link and rename), not those of a live one", () => {
    const { dir, path } = fresh();
    const gone = Number(execFileSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).trim()); // reaped: its PID names no process now
    writeFileSync(join(path, `branch.json.${gone}.tmp`), "stale\n");
    writeFileSync(join(path, `branch.json.1.tmp`), "PID 1's\n");
    writeFileSync(join(path, `next-crid.${gone}.tmp`), "another file's\n");
    dir.writeAtomic("branch.json", "new\n");
    expect(readFileSync(join(path, "branch.json"), "utf8")).toBe("new\n");
    expect(existsSync(join(path, `branch.json.${gone}.tmp`))).toBe(false);
    expect(existsSync(join(path, "branch.json.1.tmp"))).toBe(true);
    expect(existsSync(join(path, `next-crid.${gone}.tmp`))).toBe(true);
    dir.close();
  });

  it("refuses a symbolic link in place of a file or a directory, and leaves what it points to as it was", () => {
    const { dir, path, outside } = fresh();
    symlinkSync(join(outside, "file"), join(path, "next-crid"));
    symlinkSync(outside, join(path, "runs"));
    const link = { name: "CrError", code: "ELOOP" };
    expect(() => dir.openFile("next-crid", fsc.O_RDWR)).toThrow(expect.objectContaining({ ...link, message: `${join(path, "next-crid")} is a symbolic link: cr follows none in a store (another user could have planted it)` }));
    expect(() => dir.readText("next-crid")).toThrow(expect.objectContaining(link));
    expect(() => dir.dir("runs", true)).toThrow(expect.objectContaining({ ...link, path: join(path, "runs") }));
    expect(readFileSync(join(outside, "file"), "utf8")).toBe("outside\n");
    dir.close();
  });

  it("removes a link and not what it points to, also inside a directory it removes", () => {
    const { dir, path, outside } = fresh();
    mkdirSync(join(path, ".main.old"));
    symlinkSync(outside, join(path, ".main.old", "1.crimg"));
    symlinkSync(outside, join(path, "stray"));
    dir.remove(".main.old");
    dir.remove("stray");
    expect(dir.list()).toEqual([]);
    expect(readFileSync(join(outside, "file"), "utf8")).toBe("outside\n");
    dir.close();
  });

  it("refuses a directory or file another user owns, naming its owner and mode", () => {
    const { dir, path } = fresh();
    mkdirSync(join(path, "branches"), { mode: 0o700 });
    writeFileSync(join(path, "lock"), "", { mode: 0o600 });
    chownSync(join(path, "branches"), 65534, 65534);
    chownSync(join(path, "lock"), 65534, 65534);
    expect(() => dir.dir("branches")).toThrow(`store directory ${join(path, "branches")} is owned by uid 65534 (mode 0700), not by you (uid 0)`);
    expect(() => dir.openFile("lock", fsc.O_RDONLY | fsc.O_CREAT)).toThrow(`store file ${join(path, "lock")} is owned by uid 65534 (mode 0600), not by you (uid 0)`);
    dir.close();
  });

  it("refuses a directory or file its group or every user can write to", () => {
    const { dir, path } = fresh();
    mkdirSync(join(path, "branches"));
    writeFileSync(join(path, "next-crid"), "1\n");
    chmodSync(join(path, "branches"), 0o770);
    chmodSync(join(path, "next-crid"), 0o666);
    expect(() => dir.dir("branches")).toThrow(`store directory ${join(path, "branches")} can be written by its group (mode 0770, owner uid 0): only you may write to a store`);
    expect(() => dir.readText("next-crid")).toThrow(`store file ${join(path, "next-crid")} can be written by every user (mode 0666, owner uid 0): only you may write to a store`);
    chmodSync(path, 0o777);
    expect(() => StoreDir.openTop(path, false)).toThrow(/can be written by every user \(mode 0777/);
    dir.close();
  });

  it("refuses a FIFO in place of a store file without waiting for a writer", () => {
    const { dir, path } = fresh();
    execFileSync("mkfifo", [join(path, "branch.json")]);
    expect(() => dir.readText("branch.json")).toThrow(`store file ${join(path, "branch.json")} is not a regular file`);
    dir.close();
  });

  it("makes a missing store directory with its missing parents, each 0700, and refuses one on /proc or /sys", () => {
    const path = join(root, `new-${serial++}`, "a", "store");
    StoreDir.openTop(path, true)!.close();
    for (const p of [path, join(path, ".."), join(path, "..", "..")]) expect(statSync(p).mode & 0o777).toBe(0o700);
    expect(StoreDir.openTop(join(root, "missing"), false)).toBeUndefined();
    expect(existsSync(join(root, "missing"))).toBe(false);
    expect(() => StoreDir.openTop("/proc/self/cr-store", true)).toThrow("store /proc/self/cr-store is on proc, a kernel interface that stores no files: choose a directory on a disk");
    expect(() => StoreDir.openTop("/sys/kernel", false)).toThrow(/^store \/sys\/kernel is on sysfs/);
  });

  it("removeAsync removes every file of the directory, then the directory", async () => {
    const { dir, path } = fresh();
    const branch = join(path, ".main.old");
    mkdirSync(branch);
    for (let i = 0; i < 50; i++) writeFileSync(join(branch, `${i}.crimg`), Buffer.alloc(i * 4096));
    writeFileSync(join(branch, "branch.json"), "{}");
    await dir.removeAsync(".main.old");
    expect(existsSync(branch)).toBe(false);
    dir.close();
  });

  it("removeAsync fails with the path of what it could not remove", async () => {
    const { dir, path } = fresh();
    mkdirSync(join(path, ".side.old", "stray"), { recursive: true });
    const failed = dir.removeAsync(".side.old");
    await expect(failed).rejects.toMatchObject({ name: "CrError", code: "EISDIR", path: join(path, ".side.old", "stray") });
    await expect(failed).rejects.toThrow(/^cannot remove .*stray: illegal operation on a directory \(EISDIR\)$/);
    dir.close();
  });
});

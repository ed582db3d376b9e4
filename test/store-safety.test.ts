// The store against another local user, and bad store paths (issue 16). A symbolic link planted
// anywhere in a store is refused, not followed, and what it points to stays byte for byte as it
// was; a store directory or file another user owns, or that others can write to, is refused; a
// bad --store path (a regular file, /proc, /sys, a read-only file system) gives one line and a
// non-zero exit within 5 s; a snapshot leaves no store descriptor open, and the program `cr run`
// starts gets fds 0, 1 and 2 and nothing else.
// Each refusal leaves the store as it was. Real stores made by real snapshots, the built CLI.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshot } from "@cr/core";
import { cliMain, expectOneLineError, runCli } from "./cli.js";
import { cleanupTmp, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";
import { copyStore, storeTree, treeDiff } from "./store-helpers.js";

const OTHER_UID = 65534;

let dir: string;
/** CRID 1 (full) and 2 (incremental on 1) of `pid` on main. */
let base: string;
/** A live `sleep`, started with its output in another store so that `base` holds no open file. */
let pid: number;
let serial = 0;

beforeAll(async () => {
  dir = tmpDir("cr-store-safety-");
  base = join(dir, "base");
  const started = await runCli(["run", "--store", join(dir, "runner"), "--json", "--", "sleep", "1000"]);
  expect(started.code, started.stderr).toBe(0);
  pid = (JSON.parse(started.stdout) as { pid: number }).pid;
  for (const args of [[], ["--incremental"]]) {
    const shot = await runCli(["snapshot", "--store", base, ...args, String(pid)]);
    expect(shot.code, shot.stderr).toBe(0);
  }
}, 30_000);

afterAll(async () => {
  if (pid) {
    process.kill(pid, "SIGKILL");
    await waitPidFree(pid);
  }
  cleanupTmp();
});

const withPid = (args: string[]) => args.map((a) => (a === "PID" ? String(pid) : a));
/** `cr COMMAND --store STORE ARGS...` */
const cr = (store: string, [command, ...args]: string[], timeoutMs?: number) => runCli([command!, "--store", store, ...withPid(args)], { timeoutMs });

/** Every file under `root` with its bytes, and every path's metadata: a change to any shows. */
function fingerprint(root: string): string[] {
  const tree = storeTree(root);
  const bytes = [...tree].filter(([, s]) => s.startsWith("f ")).map(([rel]) => `${rel}: ${readFileSync(join(root, rel)).toString("base64")}`);
  return [...[...tree].map(([rel, s]) => `${rel} ${s}`), ...bytes];
}

interface Planted {
  what: string;
  /** The command (PID: the live process). */
  args: string[];
  /** The store path, relative, replaced by a link to where its content was moved, outside the store. */
  link: string;
  error: RegExp;
  /** Directories whose mtime and ctime may change: a coalesce builds its new state in branches/.B.new and removes it when refused. */
  timesOf?: string[];
}

const symlinked = (rel: string) => new RegExp(`^\\S*/${rel.replace(/\./g, "\\.")} is a symbolic link: cr follows none in a store`);

// Each link points at what the store held there (moved out), so following it would work.
const PLANTED: Planted[] = [
  { what: "next-crid", args: ["snapshot", "PID"], link: "next-crid", error: symlinked("next-crid") },
  { what: "lock", args: ["gc"], link: "lock", error: symlinked("lock") },
  { what: "lock", args: ["snapshot", "PID", "--incremental"], link: "lock", error: symlinked("lock") },
  { what: "cr-store.json", args: ["log"], link: "cr-store.json", error: symlinked("cr-store.json") },
  { what: "main's branch.json", args: ["log"], link: "branches/main/branch.json", error: symlinked("branches/main/branch.json") },
  { what: "main's branch.json", args: ["snapshot", "PID", "--incremental"], link: "branches/main/branch.json", error: symlinked("branches/main/branch.json") },
  { what: "main's branch.json", args: ["branch", "x", "--from", "1"], link: "branches/main/branch.json", error: symlinked("branches/main/branch.json") },
  { what: "the branch directory main", args: ["log"], link: "branches/main", error: symlinked("branches/main") },
  { what: "branches/", args: ["verify"], link: "branches", error: symlinked("branches") },
  { what: "an image (1.crimg)", args: ["inspect", "1"], link: "branches/main/1.crimg", error: symlinked("branches/main/1.crimg") },
  { what: "an image (2.crimg, the parent)", args: ["snapshot", "PID", "--incremental"], link: "branches/main/2.crimg", error: symlinked("branches/main/2.crimg") },
  { what: "an image (1.crimg)", args: ["branch", "x", "--from", "2"], link: "branches/main/1.crimg", error: symlinked("branches/main/1.crimg") },
  { what: "an image (1.crimg)", args: ["coalesce", "--keep-last", "1"], link: "branches/main/1.crimg", error: symlinked("branches/main/1.crimg"), timesOf: ["branches"] },
];

describe("a symbolic link planted in a store is refused in one line, and what it points to is unchanged", () => {
  it.each(PLANTED.map((c) => [`cr ${c.args[0]}: ${c.what} (${c.args.slice(1).join(" ")})`, c] as const))("%s", async (_, c) => {
    const store = copyStore(base, join(dir, `planted-${serial}`));
    const outside = join(dir, `outside-${serial++}`);
    mkdirSync(outside);
    const target = join(outside, "target");
    renameSync(join(store, c.link), target);
    symlinkSync(target, join(store, c.link));
    const [storeBefore, outsideBefore] = [storeTree(store), fingerprint(outside)];

    expectOneLineError(await cr(store, c.args), c.error);
    expect(fingerprint(outside), "the outside file changed").toEqual(outsideBefore);
    expect(treeDiff(storeBefore, storeTree(store), c.timesOf), "the store changed").toEqual([]);
  });

  it("cr run: a runs/ directory linked elsewhere gets no output file", async () => {
    const store = copyStore(base, join(dir, `planted-${serial++}`));
    const outside = join(dir, `outside-${serial++}`);
    mkdirSync(outside);
    symlinkSync(outside, join(store, "runs"));
    expectOneLineError(await cr(store, ["run", "--", "sleep", "1000"]), symlinked("runs"));
    expect(readdirSync(outside)).toEqual([]);
  });

  it("the content of a linked file is never shown, nor that of a damaged store file", async () => {
    const secret = "password=hunter2";
    const store = copyStore(base, join(dir, `planted-${serial++}`));
    const outside = join(dir, `outside-${serial++}`);
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), `${secret}\n`);
    renameSync(join(store, "next-crid"), join(outside, "next-crid"));
    symlinkSync(join(outside, "secret"), join(store, "next-crid"));
    const linked = await cr(store, ["snapshot", "PID"]);
    expectOneLineError(linked, symlinked("next-crid"));
    expect(linked.stderr).not.toContain("hunter2");

    renameSync(join(outside, "next-crid"), join(store, "next-crid"));
    writeFileSync(join(store, "next-crid"), `${secret}\n`);
    const damaged = await cr(store, ["snapshot", "PID"]);
    expectOneLineError(damaged, /next-crid is damaged \(not a CRID\)$/);
    expect(damaged.stderr).not.toContain("hunter2");
  });
});

interface Foreign {
  what: string;
  args: string[];
  /** The store path (relative; "" for the store itself) made another user's, or writable by others. */
  path: string;
  /** chown to OTHER_UID, else chmod to this mode. */
  mode?: number;
  error: RegExp;
}

type Kind = "file" | "directory";
const escaped = (path: string) => path.replace(/\./g, "\\.");
const foreign = (kind: Kind, path: string) => new RegExp(`^store ${kind} \\S*${escaped(path)} is owned by uid ${OTHER_UID} \\(mode 0\\d{3}\\), not by you \\(uid 0\\)$`);
const writable = (kind: Kind, path: string, who: string, mode: string) =>
  new RegExp(`^store ${kind} \\S*${escaped(path)} can be written by ${who} \\(mode ${mode}, owner uid 0\\): only you may write to a store$`);

const FOREIGN: Foreign[] = [
  { what: "branches/ is another user's", args: ["log"], path: "branches", error: foreign("directory", "branches") },
  { what: "the branch directory main is another user's", args: ["snapshot", "PID"], path: "branches/main", error: foreign("directory", "branches/main") },
  { what: "main's branch.json is another user's", args: ["log"], path: "branches/main/branch.json", error: foreign("file", "branches/main/branch.json") },
  { what: "next-crid is another user's", args: ["snapshot", "PID"], path: "next-crid", error: foreign("file", "next-crid") },
  { what: "lock is another user's", args: ["gc"], path: "lock", error: foreign("file", "lock") },
  { what: "cr-store.json is another user's", args: ["verify"], path: "cr-store.json", error: foreign("file", "cr-store.json") },
  { what: "an image is another user's", args: ["inspect", "2"], path: "branches/main/2.crimg", error: foreign("file", "branches/main/2.crimg") },
  { what: "an image is another user's", args: ["branch", "x", "--from", "2"], path: "branches/main/1.crimg", error: foreign("file", "branches/main/1.crimg") },
  { what: "the store is world-writable", args: ["log"], path: "", mode: 0o777, error: writable("directory", "", "every user", "0777") },
  { what: "the store is group-writable", args: ["snapshot", "PID"], path: "", mode: 0o770, error: writable("directory", "", "its group", "0770") },
  { what: "branches/ is world-writable", args: ["log"], path: "branches", mode: 0o1777, error: writable("directory", "branches", "every user", "1777") },
  { what: "main's branch.json is world-writable", args: ["log"], path: "branches/main/branch.json", mode: 0o666, error: writable("file", "branches/main/branch.json", "every user", "0666") },
  { what: "an image is group-writable", args: ["inspect", "1"], path: "branches/main/1.crimg", mode: 0o620, error: writable("file", "branches/main/1.crimg", "its group", "0620") },
  { what: "next-crid is world-writable", args: ["snapshot", "PID"], path: "next-crid", mode: 0o602, error: writable("file", "next-crid", "every user", "0602") },
];

describe("a store directory or file another user owns or can write to is refused in one line, the store unchanged", () => {
  it.each(FOREIGN.map((c) => [`cr ${c.args[0]}: ${c.what}`, c] as const))("%s", async (_, c) => {
    const store = copyStore(base, join(dir, `foreign-${serial++}`));
    const path = join(store, c.path);
    if (c.mode === undefined) chownSync(path, OTHER_UID, OTHER_UID);
    else chmodSync(path, c.mode);
    const before = storeTree(store);
    expectOneLineError(await cr(store, c.args), c.error);
    expect(treeDiff(before, storeTree(store)), "the store changed").toEqual([]);
  });

  it("cr run: a runs/ directory of another user gets no output file", async () => {
    const store = copyStore(base, join(dir, `foreign-${serial++}`));
    mkdirSync(join(store, "runs"), { mode: 0o700 });
    chownSync(join(store, "runs"), OTHER_UID, OTHER_UID);
    expectOneLineError(await cr(store, ["run", "--", "sleep", "1000"]), foreign("directory", "runs"));
    expect(readdirSync(join(store, "runs"))).toEqual([]);
  });
});

describe("a bad --store path: one line naming what and where, a non-zero exit, within 5 s", () => {
  let readOnly: string;

  beforeAll(async () => {
    writeFileSync(join(dir, "a-file"), "not a store\n");
    // A store on a file system mounted read-only once it is made.
    readOnly = join(dir, "ro");
    mkdirSync(readOnly);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", readOnly]);
    const shot = await runCli(["snapshot", "--store", join(readOnly, "store"), String(pid)]);
    expect(shot.code, shot.stderr).toBe(0);
    execFileSync("mount", ["-o", "remount,ro", readOnly]);
  });

  afterAll(() => {
    if (readOnly) execFileSync("umount", [readOnly]);
  });

  const notDir = /^cannot open store directory \S+: not a directory \(ENOTDIR\)$/;
  const kernel = (path: string, fs: string) => new RegExp(`^store ${path} is on ${fs}, a kernel interface that stores no files: choose a directory on a disk$`);
  const CASES: { what: string; store: () => string; args: string[]; error: RegExp }[] = [
    { what: "a regular file", store: () => join(dir, "a-file"), args: ["log"], error: notDir },
    { what: "a regular file", store: () => join(dir, "a-file"), args: ["run", "--", "sleep", "1000"], error: notDir },
    { what: "a regular file", store: () => join(dir, "a-file"), args: ["snapshot", "PID"], error: notDir },
    { what: "a path under a regular file", store: () => join(dir, "a-file", "store"), args: ["run", "--", "sleep", "1000"], error: notDir },
    { what: "a path under /proc", store: () => "/proc/self/foo", args: ["run", "--", "sleep", "1000"], error: kernel("/proc/self/foo", "proc") },
    { what: "a path under /proc", store: () => "/proc/self/foo", args: ["snapshot", "PID"], error: kernel("/proc/self/foo", "proc") },
    { what: "a path under /proc", store: () => "/proc/self/foo", args: ["log"], error: /^no cr store at \/proc\/self\/foo / },
    { what: "a directory of /proc", store: () => "/proc/self", args: ["gc"], error: kernel("/proc/self", "proc") },
    { what: "a path under /sys", store: () => "/sys/kernel/cr-store", args: ["run", "--", "sleep", "1000"], error: kernel("/sys/kernel/cr-store", "sysfs") },
    { what: "a new store on a read-only file system", store: () => join(readOnly, "new"), args: ["run", "--", "sleep", "1000"], error: /^cannot create store directory \S+\/ro\/new: read-only file system \(EROFS\)$/ },
    { what: "a store on a read-only file system", store: () => join(readOnly, "store"), args: ["run", "--", "sleep", "1000"], error: /^cannot create \S+\/ro\/store\/runs: read-only file system \(EROFS\)$/ },
    { what: "a store on a read-only file system", store: () => join(readOnly, "store"), args: ["snapshot", "PID", "--incremental"], error: /^cannot open \S+\/ro\/store\/next-crid: read-only file system \(EROFS\)$/ },
    { what: "a store on a read-only file system", store: () => join(readOnly, "store"), args: ["branch", "x", "--from", "1"], error: /^cannot create \S+\/ro\/store\/branches\/\.x\.new: read-only file system \(EROFS\)$/ },
  ];

  it.each(CASES.map((c) => [`cr ${c.args[0]}: ${c.what}`, c] as const))("%s", async (_, c) => {
    const result = await cr(c.store(), c.args, 10_000);
    expectOneLineError(result, c.error);
    expect(result.ms, "took 5 s or more").toBeLessThan(5000);
  });

  it("a store on a read-only file system can still be read: log, verify, inspect", async () => {
    for (const args of [["log"], ["verify"], ["inspect", "1"]]) {
      const result = await cr(join(readOnly, "store"), args);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe("");
    }
  });
});

describe("descriptors stay cr's own", () => {
  it("a snapshot lets go of every store directory it opened (cr snapshot --interval holds no more as it goes on)", async () => {
    const store = copyStore(base, join(dir, `fds-${serial++}`));
    const held = () => readdirSync("/proc/self/fd").length;
    await snapshot(pid, { store, incremental: true }); // once first: what stays for the process (pools, caches)
    const before = held();
    for (let i = 0; i < 3; i++) await snapshot(pid, { store, incremental: true });
    expect(held()).toBe(before);
  });

  it("cr run starts the program with fds 0, 1 and 2 only, whatever cr itself inherited", async () => {
    const store = join(dir, "run-fds");
    // fd 100 of cr: a descriptor without close-on-exec, as a shell's pipe would be (Node itself
    // marks only fds 0-15 and those right after them).
    const stdio = ["ignore", "pipe", "inherit", ...Array<"ignore">(97).fill("ignore"), "pipe"] as const;
    const child = spawn(process.execPath, [cliMain, "run", "--store", store, "--json", "--", "sleep", "1000"], { stdio: [...stdio] });
    const out = text(child.stdout!);
    // Not "close": a leaked fd 100 would keep its pipe open in the program.
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    const run = JSON.parse(await out) as { pid: number; stdout: string; stderr: string };
    try {
      const fds = readdirSync(`/proc/${run.pid}/fd`).sort();
      expect(fds).toEqual(["0", "1", "2"]);
      expect(["0", "1", "2"].map((fd) => readlinkSync(`/proc/${run.pid}/fd/${fd}`))).toEqual(["/dev/null", run.stdout, run.stderr]);
    } finally {
      process.kill(run.pid, "SIGKILL");
      await waitPidFree(run.pid);
    }
  });
});

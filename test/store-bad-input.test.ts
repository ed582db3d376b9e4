// Bad input to every store command (store issue): an unknown CRID, an unknown branch, a missing
// store, a store owned by another user, a store file replaced by garbage, an image hardlink
// replaced by another valid image. Each case: exactly one `cr: ` line on stderr, a non-zero exit
// (not an internal error), nothing on stdout that looks like success, and the store exactly as
// it was (every path, type, size, mode, owner, inode, link count, mtime and ctime). A missing
// store is not created. Real store made by real snapshots of a live process, the built CLI.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, runCli } from "./cli.js";
import { cleanupTmp, fixture, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";
import { advance, copyStore, storeTree, treeDiff } from "./store-helpers.js";

/** gated_checksum: 2 MiB, 8 words per step; main holds 4 images (every 10 steps), side is forked at 2. */
const IMAGES = 4;
const EVERY = 10;

/** What a case does to its copy of the base store before the command runs. */
type Damage = (store: string) => void;

interface Case {
  /** What is wrong. */
  what: string;
  /** The command and its arguments; `--store DIR` is put after the command name. PID: the live process. */
  args: string[];
  /** The store: a damaged copy of the base store (default: an intact copy), or a path that does not exist. */
  damage?: Damage;
  missing?: true;
  /** The one line on stderr, after "cr: ". */
  error: RegExp;
  /** What stdout must match (default: it must be empty). */
  stdout?: RegExp;
  /**
   * Directories whose own mtime and ctime may change because an entry came and went: a coalesce
   * refused while building its new state in branches/.B.new removes it again; `cr run` names its
   * output files in runs/ once the program started.
   */
  timesOf?: string[];
}

const main = (crid: number) => ["branches", "main", `${crid}.crimg`];
const branchJson = (branch: string) => ["branches", branch, "branch.json"];
const STAGED = { timesOf: ["branches"] };

// The damages, named after the store file they touch (docs/store.md: the layout). A file is
// replaced (a new inode), so an image linked into several branches is damaged in one only.
const file = (store: string, ...path: string[]) => join(store, ...path);
const replace = (path: string, content: string | Buffer) => {
  rmSync(path);
  writeFileSync(path, content, { mode: 0o600 });
};
const garbage =
  (text: string, ...path: string[]): Damage =>
  (store) => replace(file(store, ...path), text);
/** As many bytes as the file had, none of them an image's. */
const randomBytes =
  (...path: string[]): Damage =>
  (store) => replace(file(store, ...path), Buffer.from(Array.from({ length: statSync(file(store, ...path)).size }, (_, i) => (i * 2654435761) >>> 24)));
const cutInHalf =
  (...path: string[]): Damage =>
  (store) => truncateSync(file(store, ...path), Math.floor(statSync(file(store, ...path)).size / 2));
/** The hardlink replaced by a copy of another valid image file. */
const replaceWith =
  (source: (store: string) => string, ...path: string[]): Damage =>
  (store) => replace(file(store, ...path), readFileSync(source(store)));
const imageOf = (crid: number) => (store: string) => file(store, ...main(crid));
const chownOther: Damage = (store) => execFileSync("chown", ["-R", "65534", store]);

let dir: string;
let base: string;
let pid: number;
/** A PID no process can have (pid_max). */
let noPid: number;
/** CRID 4 rewritten by a coalesce of a copy: a valid image with the right CRID and another identity. */
let rewritten4: string;

const damaged = (...path: string[]) => new RegExp(`store file \\S*/${path.join("/").replace(/\./g, "\\.")} is damaged`);
const owned = /store directory \S+ is owned by uid 65534 \(mode 0\d{3}\), not by you \(uid 0\)$/;
/** A format error naming the file, the CRID and the offset. */
const notImage = (crid: number) => new RegExp(`image \\S*/${crid}\\.crimg \\(CRID ${crid}\\) at offset \\d+: `);
const replaced = (crid: number) => new RegExp(`${crid}\\.crimg.*(CRID ${crid} in HEADER \\(found \\d+\\)|is not the image branch "main" recorded for CRID ${crid}.*the file was replaced)`);
/** verify prints its table, the bad CRID marked BAD. */
const verifyBad = (crid: number) => new RegExp(`^main\\s+${crid}\\s.*BAD: `, "m");
/** What a case of `args` damaging `crid` expects besides its error: verify's table marks the CRID BAD; a coalesce stages. */
const extra = (args: string[], crid: number): Partial<Case> => (args[0] === "verify" ? { stdout: verifyBad(crid) } : args[0] === "coalesce" ? STAGED : {});

const CASES: Case[] = [
  // An unknown CRID.
  { what: "unknown CRID", args: ["restart", "--at", "99"], error: /no (image of )?CRID 99\b/ },
  { what: "unknown CRID", args: ["branch", "x", "--from", "99"], error: /no CRID 99\b/ },
  { what: "unknown CRID", args: ["coalesce", "--upto", "99"], error: /no CRID 99\b/ },
  { what: "CRID not on the branch", args: ["coalesce", "--branch", "side", "--upto", "4"], error: /no CRID 4 on branch "side"/ },
  { what: "unknown CRID", args: ["inspect", "99"], error: /no CRID 99 on branch "main"/ },
  { what: "unknown CRID", args: ["verify", "99"], error: /no CRID 99\b/ },
  { what: "CRID not on the branch", args: ["verify", "4", "--branch", "side"], error: /no CRID 4 on branch "side"/ },
  { what: "unknown PID", args: ["snapshot", "NOPID"], error: /no process \d+/ },
  { what: "image path that does not exist", args: ["inspect", "/nonexistent/7.crimg"], error: /^no image file \/nonexistent\/7\.crimg$/ },
  { what: "program that does not exist", args: ["run", "--", "/nonexistent/prog"], error: /^cannot start \/nonexistent\/prog: .*ENOENT/, timesOf: ["runs"] },

  // An unknown branch, an invalid name, an existing one.
  { what: "unknown branch", args: ["snapshot", "PID", "--branch", "nosuch"], error: /no branch "nosuch"/ },
  { what: "unknown branch", args: ["snapshot", "PID", "--incremental", "--branch", "nosuch"], error: /no branch "nosuch"/ },
  { what: "invalid branch name", args: ["snapshot", "PID", "--branch", "../main"], error: /"\.\.\/main" is not a valid branch name/ },
  { what: "unknown branch", args: ["restart", "--at", "4", "--branch", "nosuch"], error: /no branch "nosuch"/ },
  { what: "unknown source branch", args: ["branch", "x", "--from", "2", "--source", "nosuch"], error: /no branch "nosuch"/ },
  { what: "existing branch", args: ["branch", "side", "--from", "1"], error: /branch "side" already exists/ },
  { what: "invalid branch name", args: ["branch", "../evil", "--from", "1"], error: /"\.\.\/evil" is not a valid branch name/ },
  { what: "unknown branch", args: ["coalesce", "--branch", "nosuch", "--keep-last", "1"], error: /no branch "nosuch"/ },
  { what: "unknown branch", args: ["log", "--branch", "nosuch"], error: /no branch "nosuch"/ },
  { what: "unknown branch", args: ["inspect", "1", "--branch", "nosuch"], error: /no branch "nosuch"/ },
  { what: "unknown branch", args: ["verify", "--branch", "nosuch"], error: /no branch "nosuch"/ },

  // No store there: commands that read refuse and create nothing.
  ...[["restart", "--at", "1"], ["branch", "x", "--from", "1"], ["coalesce", "--keep-last", "1"], ["gc"], ["log"], ["inspect", "1"], ["verify"]].map(
    (args): Case => ({ what: "missing store", args, missing: true, error: /no cr store at \S+/ }),
  ),
  { what: "missing store, unknown PID", args: ["snapshot", "NOPID"], missing: true, error: /no process \d+/ },

  // A store another user owns (it could have been planted): refused by every command.
  ...[["snapshot", "PID"], ["snapshot", "PID", "--incremental"], ["restart", "--at", "4"], ["branch", "x", "--from", "1"], ["coalesce", "--keep-last", "1"], ["gc"], ["log"], ["inspect", "1"], ["verify"], ["run", "--", "/bin/true"]].map(
    (args): Case => ({ what: "store owned by uid 65534", args, damage: chownOther, error: owned }),
  ),

  // cr-store.json, the marker every command reads first.
  ...[["snapshot", "PID", "--incremental"], ["restart", "--at", "4"], ["branch", "x", "--from", "1"], ["coalesce", "--keep-last", "1"], ["gc"], ["log"], ["inspect", "1"], ["verify"], ["run", "--", "/bin/true"]].map(
    (args): Case => ({ what: "cr-store.json is garbage", args, damage: garbage("\0\0garbage", "cr-store.json"), error: damaged("cr-store.json") }),
  ),
  { what: "cr-store.json of another format", args: ["log"], damage: garbage('{"format": 2}\n', "cr-store.json"), error: /has format 2; this cr reads format 1/ },

  // next-crid, the CRID counter: read only to allocate.
  { what: "next-crid is garbage", args: ["snapshot", "PID", "--incremental"], damage: garbage("garbage\n", "next-crid"), error: /store file \S*\/next-crid is damaged \(not a CRID\)$/ },
  { what: "next-crid is empty", args: ["snapshot", "PID"], damage: garbage("", "next-crid"), error: /next-crid is damaged/ },

  // A branch's history.
  ...[["snapshot", "PID", "--incremental"], ["restart", "--at", "4"], ["branch", "x", "--from", "1"], ["coalesce", "--keep-last", "1"], ["gc"], ["log"], ["inspect", "1"], ["verify"]].map(
    (args): Case => ({ what: "main's branch.json is garbage", args, damage: garbage("{garbage", ...branchJson("main")), error: damaged(...branchJson("main")) }),
  ),
  { what: "main's branch.json has no entries", args: ["snapshot", "PID", "--incremental"], damage: garbage('{"name": "main", "heads": {}}', ...branchJson("main")), error: /branch\.json is damaged \(no entries list\)/ },
  { what: "main's branch.json names another branch", args: ["log"], damage: garbage('{"name": "side", "entries": [], "heads": {}}', ...branchJson("main")), error: /branch\.json is damaged \(names another branch\)$/ },
  { what: "side's branch.json is garbage", args: ["verify"], damage: garbage("[1, 2", ...branchJson("side")), error: damaged(...branchJson("side")) },
  { what: "side's branch.json is garbage", args: ["gc"], damage: garbage("[1, 2", ...branchJson("side")), error: damaged(...branchJson("side")) },

  // An image file replaced by garbage, or cut short.
  { what: "2.crimg is garbage", args: ["verify"], damage: randomBytes(...main(2)), error: notImage(2), stdout: verifyBad(2) },
  { what: "2.crimg is garbage", args: ["inspect", "2"], damage: randomBytes(...main(2)), error: notImage(2) },
  { what: "2.crimg is garbage (in the chain of 4)", args: ["restart", "--at", "4"], damage: randomBytes(...main(2)), error: notImage(2) },
  { what: "2.crimg is garbage (in the chain of 3)", args: ["branch", "x", "--from", "3"], damage: randomBytes(...main(2)), error: notImage(2) },
  { what: "2.crimg is garbage", args: ["coalesce", "--keep-last", "1"], damage: randomBytes(...main(2)), error: notImage(2), ...STAGED },
  { what: "4.crimg (the process's parent) is cut in half", args: ["snapshot", "PID", "--incremental"], damage: cutInHalf(...main(4)), error: notImage(4) },
  { what: "4.crimg is cut in half", args: ["verify", "4"], damage: cutInHalf(...main(4)), error: notImage(4), stdout: verifyBad(4) },

  // A hardlink replaced by another CRID's valid image (3.crimg is a copy of 2.crimg).
  ...[["verify"], ["inspect", "3"], ["restart", "--at", "3"], ["restart", "--at", "4"], ["branch", "x", "--from", "3"], ["coalesce", "--keep-last", "1"]].map(
    (args): Case => ({ what: "3.crimg replaced by 2.crimg", args, damage: replaceWith(imageOf(2), ...main(3)), error: replaced(3), ...extra(args, 3) }),
  ),
  // A hardlink replaced by a valid image of the same CRID with another identity (a coalesce's rewrite of 4).
  ...[["snapshot", "PID", "--incremental"], ["verify"], ["inspect", "4"], ["restart", "--at", "4"], ["branch", "x", "--from", "4"], ["coalesce", "--keep-last", "2"]].map(
    (args): Case => ({ what: "4.crimg replaced by another image of CRID 4", args, damage: replaceWith(() => rewritten4, ...main(4)), error: replaced(4), ...extra(args, 4) }),
  ),
];

/** Commands that do not read the damaged file go on working, and still change nothing. */
const UNAFFECTED: Omit<Case, "error">[] = [
  { what: "next-crid is garbage", args: ["verify"], damage: garbage("garbage\n", "next-crid") },
  { what: "next-crid is garbage", args: ["log"], damage: garbage("garbage\n", "next-crid") },
  { what: "2.crimg is garbage", args: ["log"], damage: randomBytes(...main(2)) },
  { what: "2.crimg is garbage", args: ["gc"], damage: randomBytes(...main(2)) },
  { what: "main's 2.crimg is garbage (side links the intact file)", args: ["verify", "--branch", "side"], damage: randomBytes(...main(2)) },
  { what: "3.crimg replaced by 2.crimg", args: ["verify", "2"], damage: replaceWith(imageOf(2), ...main(3)) },
];

function withStore(args: string[], store: string): string[] {
  const out = args.map((a) => (a === "PID" ? String(pid) : a === "NOPID" ? String(noPid) : a));
  return [out[0]!, "--store", store, ...out.slice(1)];
}

beforeAll(async () => {
  dir = tmpDir("cr-store-bad-input-");
  base = join(dir, "base");
  noPid = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  // A live process started by `cr run` (its stdout goes to the store), paced through its gate.
  const gate = join(dir, "gate");
  writeFileSync(gate, "");
  const started = await runCli(["run", "--store", base, "--json", "--", fixture("gated_checksum"), join(dir, "out"), gate, "2", "1000", "8"]);
  expect(started.code, started.stderr).toBe(0);
  const run = JSON.parse(started.stdout) as { pid: number; stdout: string };
  pid = run.pid;
  for (let i = 1; i <= IMAGES; i++) {
    await advance(gate, run.stdout, i * EVERY);
    const shot = await runCli(["snapshot", "--store", base, "--incremental", String(pid)]);
    expect(shot.code, shot.stderr).toBe(0);
    expect(shot.stdout.trim()).toBe(String(i));
  }
  const side = await runCli(["branch", "side", "--from", "2", "--store", base]);
  expect(side.code, side.stderr).toBe(0);
  // CRID 4 as a coalesce rewrites it (a full image now): same CRID, another identity.
  const other = copyStore(base, join(dir, "rewritten"));
  const coalesced = await runCli(["coalesce", "--store", other, "--upto", "4"]);
  expect(coalesced.code, coalesced.stderr).toBe(0);
  rewritten4 = join(other, ...main(4));
  const verify = await runCli(["verify", "--store", base]);
  expect(verify.code, verify.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  if (pid) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
    await waitPidFree(pid);
  }
  cleanupTmp();
});

let serial = 0;

describe("bad input: one line on stderr, a non-zero exit, no success on stdout, the store unchanged", () => {
  it.each(CASES.map((c) => [`cr ${c.args[0]}: ${c.what} (${c.args.slice(1).join(" ")})`, c] as const))("%s", async (_, c) => {
    const store = join(dir, `case-${serial++}`);
    if (!c.missing) {
      copyStore(base, store);
      c.damage?.(store);
    }
    const before = c.missing ? null : storeTree(store);
    const result = await runCli(withStore(c.args, store));

    expectOneLineError(result, c.error);
    if (c.stdout) expect(result.stdout).toMatch(c.stdout);
    else expect(result.stdout, "nothing on stdout").toBe("");

    if (c.missing) expect(existsSync(store), `cr ${c.args[0]} created the missing store`).toBe(false);
    else expect(treeDiff(before!, storeTree(store), c.timesOf), "the store changed").toEqual([]);
    rmSync(store, { recursive: true, force: true });
  });
});

describe("commands that do not read the damaged file still work and change nothing", () => {
  it.each(UNAFFECTED.map((c) => [`cr ${c.args[0]}: ${c.what} (${c.args.slice(1).join(" ")})`, c] as const))("%s", async (_, c) => {
    const store = copyStore(base, join(dir, `case-${serial++}`));
    c.damage?.(store);
    const before = storeTree(store);
    const result = await runCli(withStore(c.args, store));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(treeDiff(before, storeTree(store)), "the store changed").toEqual([]);
    rmSync(store, { recursive: true, force: true });
  });
});

// Programs that run on a terminal come back on one (issue 20): less, vim and top run in a real
// terminal (a tmux pane), are snapshotted and killed, and `cr restart --shell-job` in another
// tmux window brings each back there: it redraws, answers keys, and ends as it would have.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliMain, expectOneLineError, runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { waitPidFree } from "./restart-helpers.js";

/** A tmux server of this test run's own. */
const SERVER = `cr-test-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", SERVER, ...args], { encoding: "utf8" });
const CR = `${process.execPath} ${cliMain}`;

let dir: string;
beforeAll(() => {
  dir = tmpDir("cr-terminals-");
  writeFileSync(join(dir, "lines.txt"), Array.from({ length: 500 }, (_, i) => `line ${i + 1}\n`).join(""));
});
afterAll(() => {
  tmux("kill-server");
  cleanupTmp();
});

let sessions = 0;

/** A new tmux session running `command` in its first window; resolves with the program's PID. */
async function inTerminal(command: string, comm: string): Promise<{ session: string; pid: number }> {
  const session = `s${++sessions}`;
  tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c", dir);
  tmux("send-keys", "-t", `${session}:0`, command, "Enter");
  const shell = Number(tmux("display", "-p", "-t", `${session}:0`, "#{pane_pid}").trim());
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const child = spawnSync("ps", ["--ppid", String(shell), "-o", "pid=,comm="], { encoding: "utf8" }).stdout.trim(); // exits 1 while there is none
    const found = new RegExp(`^(\\d+) ${comm}$`, "m").exec(child);
    if (found) return { session, pid: Number(found[1]) };
  }
  throw new Error(`${comm} did not start in tmux: ${screen(`${session}:0`)}`);
}

function screen(target: string): string {
  return tmux("capture-pane", "-p", "-t", target);
}

async function until(target: string, what: RegExp): Promise<string> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
    const now = screen(target);
    if (what.test(now)) return now;
  }
  throw new Error(`${what} never showed in the terminal:\n${screen(target)}`);
}

/** Snapshots and kills `pid`; the CRID. */
async function snapshotKill(pid: number, store: string): Promise<string> {
  const taken = await runCli(["snapshot", "--store", store, "--kill", String(pid)]);
  expect(taken.code, taken.stderr).toBe(0);
  await waitPidFree(pid);
  return taken.stdout.trim();
}

/** `cr restart --shell-job` typed in a new window of the session, as a user would; that window's target. */
function restartInNewWindow(session: string, store: string, crid: string): string {
  tmux("new-window", "-t", session, "-c", dir);
  const target = `${session}:1`;
  tmux("send-keys", "-t", target, `clear; ${CR} restart --store ${store} --at ${crid} --shell-job; echo status=$?`, "Enter");
  return target;
}

const keys = (target: string, ...k: string[]) => tmux("send-keys", "-t", target, ...k);

describe("programs on a terminal, restarted on another one (--shell-job) or on a new one (--detach, cr attach)", () => {
  it("less: comes back on the line it showed, pages to the end, and quits with status 0", async () => {
    const { session, pid } = await inTerminal("less lines.txt", "less");
    keys(`${session}:0`, "jjjj");
    await until(`${session}:0`, /^line 5\n/);
    const checked = await runCli(["check", String(pid)]);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/fd 0, fd 1, fd 2, fd 3\s+\/dev\/pts\/\d+, its controlling terminal: cr restart --shell-job runs it on the terminal cr restart runs in, in the foreground/);
    const store = join(dir, "store-less");
    const crid = await snapshotKill(pid, store);
    const target = restartInNewWindow(session, store, crid);
    await until(target, /^line 5\nline 6\n/);
    keys(target, "G");
    await until(target, /line 500\n\(END\)/);
    keys(target, "q");
    await until(target, /status=0/);
  });

  it("vim: its unsaved buffer is there, takes more text and writes it out", async () => {
    const { session, pid } = await inTerminal("vim -N -u NONE notes.txt", "vim");
    keys(`${session}:0`, "ihello from before", "Escape");
    await until(`${session}:0`, /hello from before/);
    const store = join(dir, "store-vim");
    const crid = await snapshotKill(pid, store);
    const target = restartInNewWindow(session, store, crid);
    await until(target, /^hello from before/);
    keys(target, "A and after", "Escape", ":wq", "Enter");
    await until(target, /status=0/);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("hello from before and after\n");
  });

  it("top: comes back and refreshes, and quits with status 0", async () => {
    const { session, pid } = await inTerminal("top -d 3", "top");
    // Right after a refresh: top holds other processes' /proc files while it refreshes, and one
    // gone by the restart would be refused (restart would give the program other bytes).
    const shown = /^top - (\S+)/.exec(await until(`${session}:0`, /^top - \S+/))![1]!;
    await until(`${session}:0`, new RegExp(`^top - (?!${shown})\\S+`));
    const store = join(dir, "store-top");
    const crid = await snapshotKill(pid, store);
    const target = restartInNewWindow(session, store, crid);
    const first = /^top - (\S+)/.exec(await until(target, /^top - \S+/))![1]!;
    await until(target, new RegExp(`^top - (?!${first})\\S+`)); // its clock moved: it refreshed
    keys(target, "q");
    await until(target, /status=0/);
  });

  it("less with --detach: on a new terminal, which cr attach shows and types on; Ctrl-] leaves it running, a second attach takes it up, q ends it", async () => {
    const { session, pid } = await inTerminal("less lines.txt", "less");
    keys(`${session}:0`, "jjjj");
    await until(`${session}:0`, /^line 5\n/);
    const store = join(dir, "store-detach");
    const crid = await snapshotKill(pid, store);
    const restarted = await runCli(["restart", "--store", store, "--at", crid, "--detach"]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout.trim()).toBe(String(pid));
    expect(restarted.stderr).toMatch(new RegExp(`cr: ${pid} runs on a new terminal, as it ran on one: cr attach ${pid}`));
    tmux("new-window", "-t", session, "-c", dir);
    const target = `${session}:1`;
    const attach = () => keys(target, `clear; ${CR} attach ${pid}; echo attach=$?`, "Enter");
    attach();
    await until(target, /^line 5\nline 6\n/);
    keys(target, "C-]");
    await until(target, /attach=0/);
    expect(existsSync(`/proc/${pid}`), "Ctrl-] leaves it running").toBe(true);
    attach();
    await until(target, /^line 5\n/);
    keys(target, "G");
    await until(target, /line 500\n\(END\)/);
    keys(target, "q");
    await until(target, /attach=0/);
    expectOneLineError(await runCli(["attach", String(pid)]), new RegExp(`no terminal of process ${pid} to attach to`));
  });

  it("without --shell-job, or with it but not on a terminal, the restart refuses in one line and makes nothing", async () => {
    const { pid } = await inTerminal("less lines.txt", "less");
    const store = join(dir, "store-refused");
    const crid = await snapshotKill(pid, store);
    expectOneLineError(await runCli(["restart", "--store", store, "--at", crid]), /process \d+ \(less\) of checkpoint \d+ ran on the terminal \/dev\/pts\/\d+, its controlling terminal: restart it in a terminal with --shell-job, .* or with --detach/);
    expectOneLineError(await runCli(["restart", "--store", store, "--at", crid, "--shell-job"]), /--shell-job runs the program on the terminal cr restart runs in, and cr's standard input is not a terminal/);
    expectOneLineError(await runCli(["restart", "--store", store, "--at", crid, "--shell-job", "--detach"]), /--shell-job.*--detach|--detach.*--shell-job/);
    expect(existsSync(`/proc/${pid}`), "no process is left behind").toBe(false);
  });
});

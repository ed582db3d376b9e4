// What cannot be checkpointed is reported, not guessed (docs/design.md decision 9): `cr check` names
// every resource cr cannot save with its reason (text and --json), `cr snapshot` refuses with the
// same reasons in one `cr: ` line, writes nothing into the store and leaves the process running;
// a process holding only supported resources checks clean.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { cleanupTmp, fixtures, startFixture, tmpDir, type Fixture } from "./harness.js";

interface Problem {
  resource: string;
  kind: string;
  reason: string;
}

function parseFds(line: string): Record<string, string> {
  return Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
}

/** Every file under `dir`, recursively (relative paths). */
function listTree(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listTree(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe("cr check", () => {
  let t: Fixture;
  let fds: Record<string, string>;
  let dir: string;

  beforeAll(async () => {
    dir = tmpDir("cr-check-");
    t = await startFixture("resources_target", ["tcp", "fanotify", "io_uring"]);
    await t.waitReady();
    fds = parseFds(await t.command("fds"));
    expect(Object.keys(fds)).toEqual(expect.arrayContaining(["tcp", "fanotify", "io_uring"]));
  });

  afterAll(async () => {
    await fixtures.stopAll();
    cleanupTmp();
  });

  it("names the TCP connection, the fanotify instance and the io_uring instance, with reasons, and exits non-zero", async () => {
    const r = await runCli(["check", String(t.pid)]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.code).not.toBeNull();
    const out = r.stdout;
    for (const [what, fd, word] of [
      ["tcp", fds.tcp, /TCP connection/i],
      ["fanotify", fds.fanotify, /fanotify/i],
      ["io_uring", fds.io_uring, /io_uring/i],
    ] as const) {
      const line = out.split("\n").find((l) => new RegExp(`\\bfd ${fd}\\b`).test(l));
      expect(line, `cr check output names fd ${fd} (${what}):\n${out}`).toBeDefined();
      expect(line, `the ${what} line gives a reason`).toMatch(word);
    }
    expect(t.exitStatus()).toBeNull();
    expect(await t.command("ping")).toBe("pong");
  });

  it("--json lists the same problems", async () => {
    const r = await runCli(["check", String(t.pid), "--json"]);
    expect(r.code).not.toBe(0);
    const report = JSON.parse(r.stdout) as { pid: number; comm: string; problems: Problem[] };
    expect(report.pid).toBe(t.pid);
    const byResource = new Map(report.problems.map((p) => [p.resource, p]));
    expect(byResource.get(`fd ${fds.tcp}`)?.kind).toBe("tcp-connection");
    expect(byResource.get(`fd ${fds.fanotify}`)?.kind).toMatch(/fanotify/);
    expect(byResource.get(`fd ${fds.io_uring}`)?.kind).toBe("io_uring");
    for (const p of report.problems) expect(p.reason.length, `a reason for ${p.resource}`).toBeGreaterThan(10);
    expect(report.problems.map((p) => p.resource).sort()).toEqual([`fd ${fds.tcp}`, `fd ${fds.fanotify}`, `fd ${fds.io_uring}`].sort());
  });

  it("cr snapshot refuses with the same reasons in one line, writes nothing, and the process runs on", async () => {
    const store = join(dir, "store");
    const json = JSON.parse((await runCli(["check", String(t.pid), "--json"])).stdout) as { problems: Problem[] };
    for (const args of [
      ["snapshot", String(t.pid), "--store", store],
      ["snapshot", String(t.pid), "--store", store, "--incremental", "--json"],
    ]) {
      const r = await runCli(args);
      expect(r.code, `cr ${args.join(" ")} must fail`).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stdout).toBe("");
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines, `one line on stderr:\n${r.stderr}`).toHaveLength(1);
      expect(lines[0]).toMatch(/^cr: /);
      for (const p of json.problems) {
        expect(lines[0], `the refusal names ${p.resource}`).toContain(p.resource);
        expect(lines[0], `the refusal gives the reason for ${p.resource}`).toContain(p.reason);
      }
      // Nothing stored: no image, no history entry, no CRID used.
      const files = listTree(store);
      expect(files.filter((f) => f.endsWith(".crimg") || /tmp/i.test(f)), "no image or temporary file").toEqual([]);
      if (existsSync(join(store, "branches", "main", "branch.json"))) {
        const { Store } = await import("@cr/core");
        expect(Store.open(store, { create: false }).branch("main").entries).toEqual([]);
      }
      expect(await t.command("ping")).toBe("pong");
      expect(t.exitStatus()).toBeNull();
    }
    const status = (await import("node:fs")).readFileSync(`/proc/${t.pid}/status`, "utf8");
    expect(/^TracerPid:\s+0$/m.test(status), "not left traced").toBe(true);
    expect(/^State:\s+[tT]/m.test(status), "not left stopped").toBe(false);
  });

  it("a process holding only supported resources, a deleted file among them, checks clean (exit 0)", async () => {
    const other = tmpDir("cr-check-clean-");
    const clean = await startFixture("resources_target", ["--dir", other, "devnull", "pipe", "deleted", "file", join(other, "f.txt"), "dir", other]);
    await clean.waitReady();
    const r = await runCli(["check", String(clean.pid)]);
    expect(r.code, `cr check of a clean process: ${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/can be checkpointed/);
    const j = await runCli(["check", String(clean.pid), "--json"]);
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as { problems: Problem[] }).problems).toEqual([]);
    expect(await clean.command("ping")).toBe("pong");
  });

  it("reports for the whole tree: a grandchild's socket is named with its process", async () => {
    // bash -> bash (subshell) -> python3 holding a netlink socket; every descendant is checked.
    const script = `(python3 -c 'import socket, sys, time; s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW); print(s.fileno(), flush=True); time.sleep(60)' & wait)`;
    const root = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "ignore"], detached: true }); // its own process group
    try {
      const fd = (await new Promise<string>((resolve) => root.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim())))).trim();
      const j = await runCli(["check", String(root.pid), "--json"]);
      expect(j.code).toBe(2);
      const report = JSON.parse(j.stdout) as { processes: { pid: number; ppid: number; comm: string }[]; problems: Problem[] };
      expect(report.processes.map((p) => p.comm)).toEqual(["bash", "bash", "python3"]);
      const [, subshell, python] = report.processes;
      expect(subshell!.ppid).toBe(root.pid);
      expect(python!.ppid).toBe(subshell!.pid);
      expect(report.problems).toContainEqual(expect.objectContaining({ resource: `process ${python!.pid}: fd ${fd}`, kind: "socket" }));
      expect(report.problems.filter((p) => p.resource === `process ${subshell!.pid}`)).toEqual([]); // a child is a member, not a problem
      const text = await runCli(["check", String(root.pid)]);
      expect(text.stdout).toMatch(new RegExp(`^process ${root.pid} \\(bash\\) and its 2 descendants cannot be checkpointed:`));
    } finally {
      process.kill(-root.pid!, "SIGKILL");
    }
  });

  it("names a UNIX socket to outside the tree with the peer's process; handed over (--inherit-fd FD), it is saved, and a restart needs it given", async () => {
    // Node gives a child socketpairs for "pipe": sleep's stdin and stdout are connected to this process.
    const child = spawn("sleep", ["60"], { stdio: ["pipe", "pipe", "ignore"] });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    let restarted: number | undefined;
    try {
      const j = await runCli(["check", String(child.pid), "--json"]);
      expect(j.code).toBe(2);
      const problems = (JSON.parse(j.stdout) as { problems: Problem[] }).problems;
      expect(problems.map((p) => [p.resource, p.kind])).toEqual([["fd 0", "unix-socket"], ["fd 1", "unix-socket"]]);
      expect(problems[0]!.reason).toMatch(new RegExp(`connected to socket \\(inode \\d+, of process ${process.pid} \\(.*\\)\\), outside the tree: .*cr snapshot --inherit-fd 0, then cr restart --inherit-fd 0:PATH`));
      const handedOver = ["--inherit-fd", "0", "--inherit-fd", "1"];
      expect((await runCli(["check", String(child.pid), ...handedOver])).code).toBe(0);
      const store = join(dir, "handed-over");
      const snap = await runCli(["snapshot", "--store", store, "--kill", ...handedOver, String(child.pid)]);
      expect(snap.code, snap.stderr).toBe(0);
      await exited;
      const crid = snap.stdout.trim();
      const refused = await runCli(["restart", "--store", store, "--at", crid, "--detach"]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`fd 0 of process ${child.pid} was a UNIX socket connected outside the tree: restart with --inherit-fd 0:PATH to give it a file instead`);
      writeFileSync(join(dir, "out"), "");
      const given = await runCli(["restart", "--store", store, "--at", crid, "--detach", "--inherit-fd", "0:/dev/null", "--inherit-fd", `1:${join(dir, "out")}`]);
      expect(given.code, given.stderr).toBe(0);
      restarted = Number(given.stdout.trim());
      expect(readlinkSync(`/proc/${restarted}/fd/0`)).toBe("/dev/null");
      expect(readlinkSync(`/proc/${restarted}/fd/1`)).toBe(join(dir, "out"));
    } finally {
      child.kill("SIGKILL");
      if (restarted !== undefined) process.kill(restarted, "SIGKILL");
    }
  });

  it("a missing process: one `cr: ` line, non-zero", async () => {
    const r = await runCli(["check", "999999999"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^cr: /);
  });
});

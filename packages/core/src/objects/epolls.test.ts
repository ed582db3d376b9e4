import { closeSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { EPOLL, OPEN } from "@cr/native";
import { collectFiles } from "./files.js";
import { collectEpolls, epollProblems, makeEpoll } from "./epolls.js";
import { killHolders, pythonHolder } from "./python.test-util.js";

/** python3 holding an epoll instance `ep` with the watches `setup` registers. */
const holder = (setup: string) => pythonHolder(`import os, select, socket\nep = select.epoll()\n${setup}`);

afterEach(killHolders);

describe("epoll instances", () => {
  it("are saved with every watch: its number, events with their flags, and data", async () => {
    const { child, fds } = await holder(
      [
        "r, w = os.pipe()",
        "s, t = socket.socketpair()",
        "ep.register(r, select.EPOLLIN | select.EPOLLET)",
        "ep.register(w, select.EPOLLOUT | select.EPOLLONESHOT)",
        "ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)",
        "ep.register(t.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)",
        "fds = {'ep': ep.fileno(), 'r': r, 'w': w, 's': s.fileno(), 't': t.fileno()}",
      ].join("\n"),
    );
    const pid = child.pid!;
    const files = collectFiles(pid);
    expect(files.find((f) => f.fd === fds.ep)?.kind).toBe("epoll");
    const [saved, ...more] = collectEpolls(pid, files, []);
    expect(more).toEqual([]);
    expect(saved!.fd).toBe(fds.ep);
    // CPython's epoll puts the fd in the data.
    const want = [
      { tfd: fds.r!, events: EPOLL.EPOLLIN | EPOLL.EPOLLET, data: BigInt(fds.r!) },
      { tfd: fds.w!, events: EPOLL.EPOLLOUT | EPOLL.EPOLLONESHOT, data: BigInt(fds.w!) },
      { tfd: fds.s!, events: EPOLL.EPOLLIN | EPOLL.EPOLLRDHUP, data: BigInt(fds.s!) },
      { tfd: fds.t!, events: EPOLL.EPOLLIN | EPOLL.EPOLLEXCLUSIVE, data: BigInt(fds.t!) },
    ];
    // epoll_ctl adds EPOLLERR|EPOLLHUP to every watch; the flag bits come out unsigned.
    const errHup = 0x18;
    expect([...saved!.watches].sort((a, b) => a.tfd - b.tfd)).toEqual(want.map((w) => ({ ...w, events: (w.events | errHup) >>> 0 })));
    expect(epollProblems(pid, files)).toEqual([]);
  });

  it("a watch whose fd was closed while a dup holds the file is named by cr check and refused by a snapshot", async () => {
    const { child, fds } = await holder(["r, w = os.pipe()", "ep.register(r, select.EPOLLIN)", "kept = os.dup(r)", "os.close(r)", "fds = {'ep': ep.fileno(), 'r': r}"].join("\n"));
    const pid = child.pid!;
    const files = collectFiles(pid);
    expect(epollProblems(pid, files)).toEqual([{ resource: `fd ${fds.ep}`, kind: "epoll", reason: expect.stringMatching(new RegExp(`^epoll instance ${fds.ep} watches a file under fd ${fds.r}, which is closed now`)) }]);
    expect(() => collectEpolls(pid, files, [])).toThrow(new RegExp(`process ${pid}: epoll instance ${fds.ep} watches a file under fd ${fds.r}`));
  });

  it("are made again empty, close-on-exec, non-blocking as saved", () => {
    const fd = makeEpoll({ fd: 9, openFlags: OPEN.O_RDWR | OPEN.O_NONBLOCK } as Parameters<typeof makeEpoll>[0]);
    try {
      const fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo)![1]!, 8);
      expect(flags & (OPEN.O_NONBLOCK | OPEN.O_CLOEXEC)).toBe(OPEN.O_NONBLOCK | OPEN.O_CLOEXEC);
      expect(fdinfo).not.toMatch(/^tfd:/m);
    } finally {
      closeSync(fd);
    }
  });
});

import { describe, expect, it } from "vitest";
import { clockProblems, notFromTimers, parsePosixTimers } from "./timers.js";

// As Linux 6.18 prints them: newest first, sival_ptr in 16 hex digits.
const LISTING = `ID: 3
signal: 10/0000000000000003
notify: none/pid.812
ClockID: 7
ID: 2
signal: 34/00005eedf00dcafe
notify: signal/tid.815
ClockID: -6
ID: 0
signal: 14/0000000000000000
notify: thread/pid.812
ClockID: 1
`;

describe("parsePosixTimers", () => {
  it("reads every timer of /proc/PID/timers, ascending by ID, with its notification as sigev_notify", () => {
    expect(parsePosixTimers(LISTING, 812)).toEqual([
      { id: 0, signal: 14, value: 0n, notify: 2, tid: 0, clock: 1 },
      { id: 2, signal: 34, value: 0x5eedf00dcafen, notify: 4, tid: 815, clock: -6 },
      { id: 3, signal: 10, value: 3n, notify: 1, tid: 0, clock: 7 },
    ]);
  });

  it("reads no timers from an empty file", () => {
    expect(parsePosixTimers("", 812)).toEqual([]);
  });

  it("fails on a block it does not understand, naming the file", () => {
    expect(() => parsePosixTimers("ID: 1\nsignal: what\n", 812)).toThrow(/cannot parse \/proc\/812\/timers/);
  });
});

describe("clockProblems", () => {
  const timer = (clock: number) => ({ id: 5, signal: 10, value: 0n, notify: 0, tid: 0, clock });

  it("accepts the system clocks and the caller's own process CPU clock", () => {
    expect(clockProblems([timer(0), timer(1), timer(7), timer(-6)], 4)).toEqual([]);
  });

  it("accepts a thread CPU clock in a single-threaded process only", () => {
    expect(clockProblems([timer(-2)], 1)).toEqual([]);
    expect(clockProblems([timer(-2)], 2).map((p) => p.kind)).toEqual(["posix-timer"]);
  });

  it("refuses the CPU clock of another process, naming it", () => {
    const clock = (~1234 << 3) | 2; // clock_getcpuclockid(1234)
    expect(clockProblems([timer(clock)], 1)).toEqual([expect.objectContaining({ resource: "POSIX timer 5", kind: "posix-timer", reason: expect.stringContaining("process or thread 1234") })]);
  });
});

describe("notFromTimers", () => {
  const siginfo = (code: number, timer: number) => {
    const raw = new Uint8Array(128);
    const view = new DataView(raw.buffer);
    view.setInt32(0, 34, true);
    view.setInt32(8, code, true);
    view.setInt32(16, timer, true);
    return raw;
  };
  const saved = { itimers: [], posix: [{ id: 2, clock: 1, notify: 0, signal: 34, value: 0n, tid: 0, intervalNs: 1n, valueNs: 1n }] };

  it("leaves out the pending signal of a timer the restart recreates, and keeps the others", () => {
    const own = siginfo(-2, 2), otherTimer = siginfo(-2, 7), queued = siginfo(-1, 2);
    expect(notFromTimers([own, otherTimer, queued], saved)).toEqual([otherTimer, queued]);
  });
});

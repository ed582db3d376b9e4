import { closeSync, readFileSync } from "node:fs";
import { FileKind, type FdRecord } from "@cr/format";
import { createTimerfd, OPEN, TIMERFD } from "@cr/native";
import { afterEach, describe, expect, it } from "vitest";
import { makeTimerfd, parseTimerfd, readTimerfd, type SavedTimerfd } from "./timerfds.js";

const MS = 1_000_000n;
const { TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET } = TIMERFD;
const opened: number[] = [];
afterEach(() => opened.splice(0).forEach((fd) => closeSync(fd)));

function make(spec: Omit<SavedTimerfd, "fd">, flags = 0): number {
  const fd = createTimerfd({ ...spec, flags });
  opened.push(fd);
  return fd;
}

/** makeTimerfd from a saved timerfd, as a restart does for descriptor 9. */
function remake(saved: Omit<SavedTimerfd, "fd" | "clockid" | "settimeFlags">): number {
  const record: FdRecord = { fd: 9, fdFlags: 0, kind: FileKind.TIMERFD, path: "anon_inode:[timerfd]", openFlags: 0, offset: 0n, device: 0n, inode: 0n, size: 0n, mtimeNs: 0n, pipeId: 0n, pipeEnd: 0 };
  const fd = makeTimerfd(record, { fd: 9, clockid: TIMERFD.CLOCK_MONOTONIC, settimeFlags: 0, ...saved });
  opened.push(fd);
  return fd;
}

const fdinfo = (fd: number) => readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
const read = (fd: number) => parseTimerfd(process.pid, fd, fdinfo(fd));

describe("timerfds", () => {
  it("are made on their clock with the time left, the interval and the unread expirations, and read back from fdinfo", () => {
    const fd = make({ clockid: TIMERFD.CLOCK_MONOTONIC, settimeFlags: 0, valueNs: 5000n * MS, intervalNs: 1500n * MS + 7n, ticks: 7n }, TFD_NONBLOCK);
    const got = read(fd);
    expect(got).toMatchObject({ fd, clockid: TIMERFD.CLOCK_MONOTONIC, settimeFlags: 0, ticks: 7n, intervalNs: 1500n * MS + 7n });
    expect(got.valueNs).toBeLessThanOrEqual(5000n * MS);
    expect(got.valueNs).toBeGreaterThan(4900n * MS);
    expect(parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo(fd))![1]!, 8) & OPEN.O_NONBLOCK).toBe(OPEN.O_NONBLOCK);
  });

  it("armed absolute (cancelled if the clock is set), come back absolute at now + the time left", () => {
    const settimeFlags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;
    const got = read(make({ clockid: TIMERFD.CLOCK_REALTIME, settimeFlags, valueNs: 100_000n * MS, intervalNs: 0n, ticks: 0n }));
    expect(got).toMatchObject({ clockid: TIMERFD.CLOCK_REALTIME, settimeFlags, ticks: 0n, intervalNs: 0n });
    expect(got.valueNs).toBeGreaterThan(99_900n * MS);
    expect(got.valueNs).toBeLessThanOrEqual(100_000n * MS);
  });

  it("on the boot-time and alarm clocks, or disarmed with expirations unread", () => {
    for (const clockid of [TIMERFD.CLOCK_BOOTTIME, TIMERFD.CLOCK_REALTIME_ALARM, TIMERFD.CLOCK_BOOTTIME_ALARM]) {
      expect(read(make({ clockid, settimeFlags: 0, valueNs: 0n, intervalNs: 0n, ticks: 3n }))).toMatchObject({ clockid, ticks: 3n, valueNs: 0n, intervalNs: 0n });
    }
  });

  it("a periodic one that fired is read with every expiration since and the time to the next, not one tick and none left", async () => {
    const fd = make({ clockid: TIMERFD.CLOCK_MONOTONIC, settimeFlags: 0, valueNs: 2n * MS, intervalNs: 2n * MS, ticks: 0n });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(read(fd)).toMatchObject({ ticks: 1n, valueNs: 0n }); // what fdinfo alone shows
    const got = readTimerfd(process.pid, fd);
    expect(got.ticks).toBeGreaterThanOrEqual(25n);
    expect(got.valueNs).toBeLessThanOrEqual(2n * MS);
  });

  it("one saved as it fired (no time left, an interval) is armed a period on, not disarmed", () => {
    const got = read(remake({ ticks: 2n, valueNs: 0n, intervalNs: 3000n * MS }));
    expect(got).toMatchObject({ ticks: 2n, intervalNs: 3000n * MS });
    expect(got.valueNs).toBeGreaterThan(2900n * MS);
  });

  it("one disarmed with an interval stays disarmed, with that interval", () => {
    expect(read(remake({ ticks: 0n, valueNs: 0n, intervalNs: 3000n * MS }))).toMatchObject({ ticks: 0n, valueNs: 0n, intervalNs: 3000n * MS });
  });

  it("an fdinfo that is not a timerfd's is refused with one line", () => {
    expect(() => parseTimerfd(1, 3, "pos:\t0\nflags:\t02\n")).toThrow(/unexpected fdinfo of timerfd 3 of process 1/);
  });
});

import { afterEach, describe, expect, it, vi } from "vitest";
import { progressBar } from "./progress.js";

/** A stream that records what is written to it, a terminal of `columns` or not. */
function stream(isTTY: boolean, columns = 80): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const s = { isTTY, columns, write: (text: string) => written.push(text) > 0 };
  return { stream: s as unknown as NodeJS.WriteStream, written };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("progressBar", () => {
  it("draws nothing at all when the stream is not a terminal", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "0");
    const { stream: s, written } = stream(false);
    const bar = progressBar("verify", s);
    bar.update(1, 4, "checking hashes");
    bar.done();
    expect(written).toEqual([]);
  });

  it("draws label, phase, bar, percent, done of total and rate on one line, and clears it", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "0");
    const { stream: s, written } = stream(true);
    const bar = progressBar("restart", s);
    bar.update(512 << 20, 1 << 30, "filling memory");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\rrestart: filling memory \[#+-+\]  50% 512\.0 MiB of 1\.00 GiB, [\d.]+ \w+\/s\x1b\[K$/);
    expect(written[0]!.length - "\r\x1b[K".length).toBeLessThanOrEqual(79);
    bar.done();
    expect(written.at(-1)).toBe("\r\x1b[K");
    bar.done();
    expect(written).toHaveLength(2);
  });

  it("keeps the interface of a bar without phases: the label alone", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "0");
    const { stream: s, written } = stream(true);
    progressBar("export", s).update(1 << 20, 4 << 20);
    expect(written[0]).toMatch(/^\rexport \[#+-+\]  25% 1\.00 MiB of 4\.00 MiB, /);
  });

  it("clears the line when a phase reaches its total", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "0");
    const { stream: s, written } = stream(true);
    const bar = progressBar("snapshot", s);
    bar.update(1, 2, "saving memory");
    bar.update(2, 2, "saving memory");
    expect(written.at(-1)).toBe("\r\x1b[K");
  });

  it("fits a narrow terminal without wrapping", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "0");
    const { stream: s, written } = stream(true, 40);
    progressBar("coalesce", s).update(3, 7, "copying blocks");
    expect(written[0]!.replace("\r", "").replace("\x1b[K", "").length).toBeLessThanOrEqual(39);
  });

  it("refuses a CR_PROGRESS_AFTER_MS that is not a number of milliseconds", () => {
    vi.stubEnv("CR_PROGRESS_AFTER_MS", "soon");
    expect(() => progressBar("verify", stream(true).stream)).toThrow(/^CR_PROGRESS_AFTER_MS=soon is not a number of milliseconds$/);
  });
});

// What the "unnoticed" tests ask of a running target and of the store after a snapshot: the
// target's own report line, its state and tracer, and every image of the store complete.
import { existsSync, readFileSync } from "node:fs";
import { expect } from "vitest";
import { ImageReader, verifyImageFile } from "@cr/format";
import { sleep, type Fixture } from "./harness.js";
import { storeFiles } from "./image-pages.js";

export interface Report {
  iterations: number;
  errors: number;
  signals: number;
  line: string;
}

export async function report(t: Fixture): Promise<Report> {
  const line = await t.command("report", 10_000);
  const m = /^iterations=(\d+) errors=(\d+) signals=(\d+) /.exec(line);
  if (!m) throw new Error(`${t.name}: unexpected report '${line}'`);
  return { iterations: Number(m[1]), errors: Number(m[2]), signals: Number(m[3]), line };
}

/** State letter and TracerPid from /proc/PID/status. */
export function procStatus(pid: number): { state: string; tracer: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const state = /^State:\s+(\S)/m.exec(text)?.[1] ?? "?";
  const tracer = Number(/^TracerPid:\s+(\d+)/m.exec(text)?.[1] ?? "-1");
  return { state, tracer };
}

/** Waits until the target is neither stopped nor traced (a dead tracer's detach is asynchronous). */
export async function waitUntraced(pid: number, ms = 3000): Promise<{ state: string; tracer: number }> {
  const deadline = Date.now() + ms;
  let s = procStatus(pid);
  while ((s.tracer !== 0 || s.state === "t" || s.state === "T") && Date.now() < deadline) {
    await sleep(10);
    s = procStatus(pid);
  }
  return s;
}

/**
 * Reads until `done` holds or `ms` pass, and returns the last reading. A thread that a killed cr
 * left in the trampoline's query loop goes back to the program only when the loop's wait ends
 * (500 ms, docs/checkpoint.md): progress after a kill is awaited that long, not expected at once.
 */
export async function readUntil<T>(read: () => T | Promise<T>, done: (value: T) => boolean, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(10);
    value = await read();
  }
  return value;
}

/**
 * Every file of the store is a complete image or a known store file. `afterKills`: writers were
 * killed, and one killed between an atomic replace's link and rename leaves `NAME.PID.tmp`, which
 * the next writer of NAME removes (store-fs.ts): such a file of a PID that is gone is no stray yet.
 */
export async function checkStore(store: string, { afterKills = false } = {}): Promise<{ images: string[] }> {
  const { images, strays } = storeFiles(store);
  const leftByKilledWriter = (path: string) => {
    const pid = /\/[a-z.-]+\.([0-9]+)\.tmp$/.exec(path)?.[1];
    return afterKills && pid !== undefined && !existsSync(`/proc/${pid}`);
  };
  expect(strays.filter((p) => !leftByKilledWriter(p)), "stray files in the store (temporary or partial)").toEqual([]);
  for (const path of images) {
    const crid = BigInt(/([0-9]+)\.crimg$/.exec(path)![1]!);
    const reader = ImageReader.open(path, { crid });
    try {
      await reader.verify();
    } finally {
      reader.close();
    }
    await verifyImageFile(path, { crid });
  }
  return { images };
}

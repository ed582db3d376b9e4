import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store, syntheticChain } from "@cr/core";
import { median, type Row } from "./bench-table.js";

const RUNS = 21;

/** Median wall time of RUNS whole processes of `command`, in ms (one unmeasured run first). */
function medianMs(command: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const started = process.hrtime.bigint();
    execFileSync(command, args, { stdio: "ignore" });
    if (i > 0) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(times);
}

/**
 * Start-up of the installed command (the launcher scripts/setup.sh puts on PATH, as a user's
 * shell runs it) against its floor, a node process that does nothing: what cr adds is loading
 * what a command uses.
 */
export async function benchStartup(): Promise<Row[]> {
  const cr = execFileSync("sh", ["-c", "command -v cr || true"], { encoding: "utf8" }).trim();
  if (cr === "") throw new Error("no cr on PATH: run `make setup` first");
  const dir = mkdtempSync(join(tmpdir(), "cr-bench-startup-"));
  try {
    const store = join(dir, "store");
    const opened = Store.open(store, { create: true });
    await syntheticChain(opened, { branch: "main", pages: 16, images: 100, dirtyPerImage: 1 });
    opened.close();
    const floor = medianMs(process.execPath, ["-e", "0"]);
    const version = medianMs(cr, ["--version"]);
    const log = medianMs(cr, ["log", "--store", store]);
    const ms = (v: number) => `${v.toFixed(0)} ms`;
    const overFloor = (v: number) => `${(v / floor).toFixed(2)}x node -e 0`;
    return [
      { scenario: "machine: node -e 0, a whole process (median of 21)", value: ms(floor), target: "bounds cr's start-up" },
      { scenario: "start-up: cr --version, a whole process", value: ms(version), target: `<= 150 ms on a quiet machine (${overFloor(version)})` },
      { scenario: "start-up: cr log of a 100-image store", value: ms(log), target: overFloor(log) },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

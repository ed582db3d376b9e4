import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restart, snapshot, waitRestarted } from "@cr/core";
import { compileTarget, startTarget } from "./bench-snapshot.js";
import { median, type Row } from "./bench-table.js";

const RUNS = 3;
const DEEP = 100;

/**
 * Restart time (from `restart()` called to the process running) of a bench_target of 256 MiB
 * and 1 GiB, and of the same 1 GiB process at chain depth 1 and 100 (docs/design.md targets:
 * < 0.5 s for 1 GiB; depth 100 within 10% of depth 1).
 */
export async function benchRestart(): Promise<Row[]> {
  // A private copy: a restart refuses an executable that changed, and other benchmarks
  // recompile the shared one.
  const dir = mkdtempSync(join(tmpdir(), "cr-bench-restart-bin-"));
  const binary = join(dir, "bench_target");
  try {
    copyFileSync(compileTarget(), binary);
    const rows: Row[] = [];
    for (const mb of [256, 1024]) {
      const ms = await timeChain(binary, mb, 1);
      rows.push({ scenario: `restart ${mb === 1024 ? "1 GiB" : `${mb} MiB`} image (full)`, value: `${ms.toFixed(0)} ms`, target: mb === 1024 ? "< 500 ms" : "" });
    }
    const lz4 = await timeChain(binary, 1024, 1, "lz4");
    rows.push({ scenario: "restart 1 GiB image (full, lz4)", value: `${lz4.toFixed(0)} ms` });
    const shallow = await timeChain(binary, 1024, 2);
    const deep = await timeChain(binary, 1024, DEEP);
    rows.push({ scenario: "restart 1 GiB at chain depth 1", value: `${shallow.toFixed(0)} ms` });
    rows.push({ scenario: `restart 1 GiB at chain depth ${DEEP}`, value: `${deep.toFixed(0)} ms`, target: `within 10% of depth 1 (${((deep / shallow - 1) * 100).toFixed(1)}%)` });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A chain of `images` images (1 full, then increments of 1% dirty), restarted RUNS times. */
async function timeChain(binary: string, mb: number, images: number, codec: "raw" | "lz4" = "raw"): Promise<number> {
  const store = mkdtempSync(join(tmpdir(), "cr-bench-restart-"));
  const target = await startTarget(binary, mb);
  try {
    let crid = 0n;
    for (let i = 0; i < images; i++) {
      if (i > 0) await target.command("dirty 10");
      const last = i === images - 1;
      crid = (await snapshot(target.pid, { store, incremental: i > 0, after: last ? "kill" : "leave-running", codec })).crid;
    }
    await waitGone(target.pid);
    const times: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const result = await restart({ crid, store });
      times.push(result.restoreMs);
      process.kill(result.pid, "SIGKILL");
      waitRestarted(result.pid);
    }
    return median(times);
  } finally {
    target.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 250 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
}

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Row } from "./bench-table.js";

export interface Probe {
  directWriteGBps: number;
  directReadGBps: number;
  unlinkMs: number;
  reprotectMs: number;
  firstReturnMs: number;
  incrementFloorMs: number;
  writeProtectMs: number;
}

let probed: Probe | undefined;

/** The machine's floors (fixtures/machine_probe.c), measured once per bench run: the other parts give ratios to them. */
export function probeMachine(): Probe {
  if (probed) return probed;
  const dir = mkdtempSync(join(tmpdir(), "cr-bench-machine-"));
  try {
    const binary = join(dir, "machine_probe");
    execFileSync("cc", ["-O2", "-o", binary, fileURLToPath(new URL("../fixtures/machine_probe.c", import.meta.url))]);
    probed = JSON.parse(execFileSync(binary, [join(dir, "probe.bin")], { encoding: "utf8" })) as Probe;
    return probed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Milliseconds the machine's durable write floor (O_DIRECT + fsync) takes for `bytes`. */
export function durableWriteMs(bytes: number): number {
  return bytes / (probeMachine().directWriteGBps * 1e6);
}

/**
 * The floors this machine sets under cr's figures, measured without cr (fixtures/machine_probe.c):
 * the disk's O_DIRECT bandwidth (a full snapshot writes, a restart and a coalesce read 1 GiB),
 * what removing a 1 GiB file costs (a coalesce removes the images it replaced),
 * what re-protecting 1% of a 1 GiB process costs (PAGEMAP_SCAN) and then costs the process
 * at its next return to user space (a shadow-paging hypervisor resyncs its page tables there),
 * the least an increment of 1% can stop it for, and what write-protecting all of it costs.
 */
export async function benchMachine(): Promise<Row[]> {
  const probe = probeMachine();
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  return [
    { scenario: "machine: O_DIRECT write of 1 GiB, fsync", value: `${probe.directWriteGBps.toFixed(2)} GB/s`, target: "bounds a full snapshot" },
    { scenario: "machine: O_DIRECT read of 1 GiB", value: `${probe.directReadGBps.toFixed(2)} GB/s`, target: "bounds a restart and a coalesce" },
    { scenario: "machine: unlink of that 1 GiB file", value: ms(probe.unlinkMs), target: "part of a coalesce" },
    { scenario: "machine: PAGEMAP_SCAN re-protecting 1% of 1 GiB", value: ms(probe.reprotectMs) },
    { scenario: "machine: the process's next return to user space", value: ms(probe.firstReturnMs), target: "~0.1 ms without shadow paging" },
    { scenario: "machine: increment floor (stop, re-arm, read 1% of 1 GiB, go)", value: ms(probe.incrementFloorMs), target: "floor of an increment's downtime" },
    { scenario: "machine: write-protecting 1 GiB of page tables (mprotect)", value: ms(probe.writeProtectMs), target: "floor of a full snapshot's pause" },
  ];
}

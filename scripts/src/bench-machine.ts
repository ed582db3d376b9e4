import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Row } from "./bench-table.js";

interface Probe {
  directWriteGBps: number;
  directReadGBps: number;
  unlinkMs: number;
  reprotectMs: number;
  firstReturnMs: number;
}

/**
 * The floors this machine sets under cr's figures, measured without cr (fixtures/machine_probe.c):
 * the disk's O_DIRECT bandwidth (a full snapshot writes, a restart and a coalesce read 1 GiB),
 * what removing a 1 GiB file costs (a coalesce removes the images it replaced),
 * and what re-protecting 1% of a 1 GiB process costs (PAGEMAP_SCAN) and then costs the process
 * at its next return to user space (a shadow-paging hypervisor resyncs its page tables there).
 */
export async function benchMachine(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "cr-bench-machine-"));
  try {
    const binary = join(dir, "machine_probe");
    execFileSync("cc", ["-O2", "-o", binary, fileURLToPath(new URL("../fixtures/machine_probe.c", import.meta.url))]);
    const probe = JSON.parse(execFileSync(binary, [join(dir, "probe.bin")], { encoding: "utf8" })) as Probe;
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    return [
      { scenario: "machine: O_DIRECT write of 1 GiB, fsync", value: `${probe.directWriteGBps.toFixed(2)} GB/s`, target: "bounds a full snapshot" },
      { scenario: "machine: O_DIRECT read of 1 GiB", value: `${probe.directReadGBps.toFixed(2)} GB/s`, target: "bounds a restart and a coalesce" },
      { scenario: "machine: unlink of that 1 GiB file", value: ms(probe.unlinkMs), target: "part of a coalesce" },
      { scenario: "machine: PAGEMAP_SCAN re-protecting 1% of 1 GiB", value: ms(probe.reprotectMs) },
      { scenario: "machine: the process's next return to user space", value: ms(probe.firstReturnMs), target: "~0.1 ms without shadow paging" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

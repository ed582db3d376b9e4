import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as ABI from "./kernel-abi.js";

const dir = mkdtempSync(join(tmpdir(), "cr-kernel-abi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADERS = [
  "fcntl.h", "signal.h", "stdio.h", "stddef.h", "time.h", "unistd.h", "sys/mman.h", "sys/prctl.h", "sys/resource.h",
  "sys/stat.h", "sys/syscall.h", "sys/time.h", "linux/capability.h", "linux/filter.h", "linux/futex.h", "linux/magic.h", "linux/major.h",
  "linux/membarrier.h", "linux/memfd.h", "linux/sched.h", "linux/seccomp.h", "sys/socket.h", "netinet/tcp.h", "sys/eventfd.h", "sys/epoll.h",
  "sys/timerfd.h", "sys/signalfd.h", "sys/ioctl.h", "sys/wait.h",
];

/** Enum constants (no macro to test for) that every header since Linux 5.10 has. */
const ENUM_ONLY = new Set([
  "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED",
  "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED",
  "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE",
  "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ",
  "TCP_ESTABLISHED",
  "TCP_CLOSE",
  "TCP_LISTEN",
]);

/** Names whose userspace definition is not the kernel's. */
const NOT_THE_KERNELS: Record<string, string> = {
  _NSIG: "glibc's counts signal 0 too (65)",
};

/**
 * The C type of each STRUCTS entry in this machine's headers (glibc's where it has the kernel's
 * layout), and fields named otherwise there. Absent: no userspace header has it as the kernel does.
 */
const C_STRUCTS: Partial<Record<keyof typeof ABI.STRUCTS, { type: string; fields?: Record<string, string> }>> = {
  stack_t: { type: "stack_t" },
  siginfo_t: { type: "siginfo_t", fields: { si_timerid: "_sifields._timer.si_tid" } },
  clone_args: { type: "struct clone_args" },
  robust_list_head: { type: "struct robust_list_head" },
  sock_fprog: { type: "struct sock_fprog" },
  sock_filter: { type: "struct sock_filter" },
  prctl_mm_map: { type: "struct prctl_mm_map" },
  flock: { type: "struct flock" },
  f_owner_ex: { type: "struct f_owner_ex" },
  rlimit64: { type: "struct rlimit64" },
  timeval: { type: "struct timeval" },
  timespec: { type: "struct timespec" },
  itimerval: { type: "struct itimerval" },
  itimerspec: { type: "struct itimerspec" },
  epoll_event: { type: "struct epoll_event", fields: { data: "data.u64" } },
  sigevent: { type: "struct sigevent", fields: { sigev_notify_thread_id: "_sigev_un._tid" } },
};

/** Every plain constant of kernel-abi.ts as [group, name, C macro] (a syscall is SYS_name). */
function constants(): [group: string, name: string, macro: string, value: number | bigint][] {
  const out: [string, string, string, number | bigint][] = [];
  for (const [group, members] of Object.entries(ABI)) {
    if (typeof members !== "object" || group === "STRUCTS" || group === "REG") continue;
    for (const [name, value] of Object.entries(members as Record<string, unknown>)) {
      if (typeof value !== "number" && typeof value !== "bigint") continue;
      out.push([group, name, group === "SYS" ? `SYS_${name}` : name, value]);
    }
  }
  return out;
}

/** Compiles and runs a C program printing, for each name this machine's headers define, "name value". */
function fromHeaders(): Map<string, bigint> {
  const lines = [...HEADERS.map((h) => `#include <${h}>`), "int main(void) {"];
  for (const [, name, macro] of constants()) {
    if (name in NOT_THE_KERNELS) continue;
    const print = `  printf("${name} %lld\\n", (long long)(${macro}));`;
    lines.push(...(ENUM_ONLY.has(name) ? [print] : [`#ifdef ${macro}`, print, "#endif"]));
  }
  for (const [struct, c] of Object.entries(C_STRUCTS)) {
    for (const field of Object.keys(ABI.STRUCTS[struct as keyof typeof ABI.STRUCTS])) {
      const expr = field === "size" ? `sizeof(${c.type})` : `offsetof(${c.type}, ${c.fields?.[field] ?? field})`;
      lines.push(`  printf("${struct}.${field} %lld\\n", (long long)${expr});`);
    }
  }
  lines.push("  return 0;", "}");
  const source = join(dir, "abi.c");
  const binary = join(dir, "abi");
  writeFileSync(source, lines.join("\n") + "\n");
  execFileSync("cc", ["-D_GNU_SOURCE", "-w", "-o", binary, source]);
  const out = new Map<string, bigint>();
  for (const line of execFileSync(binary, { encoding: "utf8" }).trim().split("\n")) {
    const [name, value] = line.split(" ") as [string, string];
    out.set(name, BigInt(value));
  }
  return out;
}

describe("kernel ABI constants", () => {
  it("are what this machine's C headers say, for every one they define (as signed 64-bit values)", () => {
    const headers = fromHeaders();
    const ours = new Map<string, bigint>();
    for (const [, name, , value] of constants()) if (headers.has(name)) ours.set(name, BigInt.asIntN(64, BigInt(value)));
    for (const [struct, layout] of Object.entries(ABI.STRUCTS)) {
      for (const [field, value] of Object.entries(layout)) if (headers.has(`${struct}.${field}`)) ours.set(`${struct}.${field}`, BigInt(value));
    }
    expect(ours).toEqual(headers);
    // The headers of Debian 12 (Linux 6.1) already have nearly all of them: this checked something.
    expect(headers.size).toBeGreaterThan(150);
  });

  it("name each syscall once, each number once", () => {
    expect(new Set(Object.values(ABI.SYS)).size).toBe(Object.keys(ABI.SYS).length);
  });

  it("split dev_t like the kernel", () => {
    expect(ABI.splitDev(0x0103n)).toEqual({ major: 1, minor: 3 });
    expect(ABI.splitDev((0x88n << 8n) | 0x5n)).toEqual({ major: 136, minor: 5 });
    // glibc's makedev: minor low byte, major low 12 bits, minor high bits, major high bits.
    const makedev = (major: bigint, minor: bigint): bigint =>
      (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
    expect(ABI.splitDev(makedev(0x1234ffn, 0x56789n))).toEqual({ major: 0x1234ff, minor: 0x56789 });
  });

  it("decode a CPU-time clock ID's pid", () => {
    expect(ABI.cpuClockPid(-6)).toBe(0); // CLOCK_PROCESS_CPUTIME_ID of the caller
    expect(ABI.cpuClockPid(~1234 << 3)).toBe(1234);
  });
});

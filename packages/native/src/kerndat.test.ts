import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

import { probeKernel } from "./index.js";

function kernelConfig(option: string): string | undefined {
  try {
    const text = gunzipSync(readFileSync("/proc/config.gz")).toString();
    if (text.includes(`# ${option} is not set`)) return "n";
    return text.match(new RegExp(`^${option}=(.*)$`, "m"))?.[1];
  } catch {
    return undefined;
  }
}

describe("probeKernel", () => {
  it("reports soft-dirty as the kernel config says, with the reason", () => {
    const features = probeKernel();
    const config = kernelConfig("CONFIG_MEM_SOFT_DIRTY");
    if (config === "n") {
      expect(features.softDirty).toEqual({ available: false, reason: "CONFIG_MEM_SOFT_DIRTY is not set in this kernel" });
    } else if (config === "y") {
      expect(features.softDirty.available).toBe(true);
    } else {
      expect(features.softDirty.reason).toMatch(/pagemap bit 55/);
    }
  });

  it("finds write-protect scanning (userfaultfd WP_ASYNC + PAGEMAP_SCAN) on Linux 6.7+", () => {
    const [major, minor] = readFileSync("/proc/sys/kernel/osrelease", "utf8").split(".").map(Number);
    const expected = major! > 6 || (major === 6 && minor! >= 7);
    expect(probeKernel().writeProtectScan.available).toBe(expected);
    expect(probeKernel().writeProtectScan.reason).not.toBe("");
  });

  it("finds guard regions reported by PAGEMAP_SCAN (PAGE_IS_GUARD) on Linux 6.14+", () => {
    const [major, minor] = readFileSync("/proc/sys/kernel/osrelease", "utf8").split(".").map(Number);
    expect(probeKernel().guardScan.available).toBe(major! > 6 || (major === 6 && minor! >= 14));
    expect(probeKernel().guardScan.reason).not.toBe("");
  });

  it("reports the page size and an XSAVE size at least as large as FXSAVE", () => {
    const features = probeKernel();
    expect(features.pageSize).toBe(4096);
    expect(features.xstateSize).toBeGreaterThanOrEqual(512);
  });
});

import { closeSync, readlinkSync, writeSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { addSeals, dataExtents, fileSeals, MEMFD, memfdCreate, NativeError } from "./index.js";

describe("memfds", () => {
  it("are made with their name, sealed, and tell which parts hold data", () => {
    const fd = memfdCreate("cr-native-test", MEMFD.MFD_ALLOW_SEALING);
    try {
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe("/memfd:cr-native-test (deleted)");
      writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 3 * 4096);
      writeSync(fd, Buffer.alloc(10, 2), 0, 10, 0);
      expect([...dataExtents(fd, 0n, 4n * 4096n)]).toEqual([0n, 4096n, 3n * 4096n, 4n * 4096n]);
      expect(fileSeals(fd)).toBe(0);
      addSeals(fd, MEMFD.F_SEAL_WRITE | MEMFD.F_SEAL_SHRINK);
      expect(fileSeals(fd)).toBe(MEMFD.F_SEAL_WRITE | MEMFD.F_SEAL_SHRINK);
      expect(() => writeSync(fd, "x", 0)).toThrow(/EPERM/);
    } finally {
      closeSync(fd);
    }
  });

  it("tell the data of thousands of scattered pages at once, the last extent ending with the file", () => {
    const fd = memfdCreate("cr-native-test", 0);
    try {
      const want: bigint[] = [];
      for (let page = 0; page < 3000; page += 3) {
        writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, page * 4096);
        want.push(BigInt(page * 4096), BigInt((page + 1) * 4096));
      }
      writeSync(fd, Buffer.alloc(100, 1), 0, 100, 3001 * 4096);
      want.push(3001n * 4096n, 3001n * 4096n + 100n);
      expect([...dataExtents(fd, 0n, 4000n * 4096n)]).toEqual(want);
      expect([...dataExtents(fd, 4096n + 10n, 7n * 4096n)]).toEqual([3n * 4096n, 4n * 4096n, 6n * 4096n, 7n * 4096n]);
    } finally {
      closeSync(fd);
    }
  });

  it("without MFD_ALLOW_SEALING are sealed shut, and refuse more seals", () => {
    const fd = memfdCreate("cr-native-test", 0);
    try {
      expect(fileSeals(fd)).toBe(MEMFD.F_SEAL_SEAL);
      expect(() => addSeals(fd, MEMFD.F_SEAL_GROW)).toThrow(NativeError);
    } finally {
      closeSync(fd);
    }
  });
});

import { execFileSync } from "node:child_process";
import { closeSync, constants as fsc, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { kernelFileSystem, listDir, openAt } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "cr-storedir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("openAt", () => {
  it("refuses a symbolic link at any step and a path out of the directory, and follows none", () => {
    mkdirSync(join(dir, "real"));
    writeFileSync(join(dir, "real", "file"), "x");
    symlinkSync(join(dir, "real"), join(dir, "linked-dir"));
    symlinkSync(join(dir, "real", "file"), join(dir, "linked-file"));
    const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      expect(() => openAt(fd, "linked-file", fsc.O_RDONLY)).toThrow(expect.objectContaining({ code: "ELOOP" }));
      expect(() => openAt(fd, "linked-dir/file", fsc.O_RDONLY)).toThrow(expect.objectContaining({ code: "ELOOP" }));
      expect(() => openAt(fd, "../x", fsc.O_RDONLY)).toThrow(expect.objectContaining({ code: "EXDEV" }));
      closeSync(openAt(fd, "real/file", fsc.O_RDONLY));
      expect(listDir(fd).sort()).toEqual(["linked-dir", "linked-file", "real"]);
    } finally {
      closeSync(fd);
    }
  });

  it("opens a FIFO without waiting for a writer", () => {
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    closeSync(openAt(fd, "fifo", fsc.O_RDONLY));
    closeSync(fd);
  });
});

describe("kernelFileSystem", () => {
  it("names proc and sysfs, and nothing for a file system that stores files", () => {
    const names = ["/proc", "/sys", dir].map((path) => {
      const fd = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
      try {
        return kernelFileSystem(fd);
      } finally {
        closeSync(fd);
      }
    });
    expect(names).toEqual(["proc", "sysfs", null]);
  });
});

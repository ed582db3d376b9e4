import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeBranchDir } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "cr-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("removeBranchDir", () => {
  it("removes every file of the directory, then the directory", async () => {
    const branch = join(dir, ".main.old");
    mkdirSync(branch);
    for (let i = 0; i < 50; i++) writeFileSync(join(branch, `${i}.crimg`), Buffer.alloc(i * 4096));
    writeFileSync(join(branch, "branch.json"), "{}");
    await removeBranchDir(branch);
    expect(existsSync(branch)).toBe(false);
  });

  it("fails with the path of what it could not remove", async () => {
    const branch = join(dir, ".side.old");
    mkdirSync(join(branch, "stray"), { recursive: true });
    const failed = removeBranchDir(branch);
    await expect(failed).rejects.toMatchObject({ name: "CrError", code: "EISDIR", path: join(branch, "stray") });
    await expect(failed).rejects.toThrow(/^cannot remove .*stray: /);
  });
});

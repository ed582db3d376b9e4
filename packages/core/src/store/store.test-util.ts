// For the core tests: fresh stores in temporary directories.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { Store } from "./store.js";

/** A maker of fresh stores (each in a directory named `prefix`...), removed after each test. */
export function storeMaker(prefix: string): () => Store {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return Store.open(join(dir, "store"), { create: true });
  };
}

import { lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Store } from "./store.js";

export interface GcResult {
  /** Paths removed. */
  removed: string[];
  /** Bytes given back to the file system (files whose last link was removed). */
  freedBytes: number;
}

/**
 * `cr gc`: removes what no branch references: image files a branch.json does not list (a
 * snapshot killed between link and history), temporary files of killed writers, and the
 * leftovers of a killed coalesce or branch (recovered first).
 */
export function gc(store: Store): GcResult {
  return store.withLock(() => {
    store.recoverIfNeeded();
    const result: GcResult = { removed: [], freedBytes: 0 };
    const drop = (path: string) => {
      const st = lstatSync(path);
      if (st.isFile() && st.nlink === 1) result.freedBytes += st.size;
      rmSync(path, { recursive: true, force: true });
      result.removed.push(path);
    };
    for (const name of readdirSync(store.dir)) if (name.endsWith(".tmp")) drop(join(store.dir, name));
    for (const name of store.branchNames()) {
      const listed = new Set(store.branch(name).entries.map((e) => `${e.crid}.crimg`));
      listed.add("branch.json");
      for (const file of readdirSync(store.branchDir(name))) if (!listed.has(file)) drop(join(store.branchDir(name), file));
    }
    return result;
  });
}

import { join } from "node:path";
import type { StoreDir } from "./store-fs.js";
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
    const drop = (dir: StoreDir, name: string) => {
      const st = dir.stat(name);
      if (st?.isFile() && st.nlink === 1) result.freedBytes += st.size;
      dir.remove(name);
      result.removed.push(join(dir.path, name));
    };
    for (const name of store.root.list()) if (name.endsWith(".tmp")) drop(store.root, name);
    for (const name of store.branchNames()) {
      const listed = new Set(store.branch(name).entries.map((e) => `${e.crid}.crimg`));
      listed.add("branch.json");
      store.inBranch(name, (dir) => {
        for (const file of dir.list()) if (!listed.has(file)) drop(dir, file);
      });
    }
    return result;
  });
}

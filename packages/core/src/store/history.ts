import type { LogEntry, Store } from "./store.js";

/** One line of `cr log`. */
export interface HistoryEntry extends LogEntry {
  branch: string;
  /** This CRID is the branch's newest image. */
  head: boolean;
}

/** A branch's history, newest first. */
export function branchHistory(store: Store, branch: string): HistoryEntry[] {
  const meta = store.branch(branch);
  const newest = meta.entries.reduce<string | null>((m, e) => (m === null || BigInt(e.crid) > BigInt(m) ? e.crid : m), null);
  return meta.entries.map((e) => ({ ...e, branch, head: e.crid === newest })).sort((a, b) => (BigInt(b.crid) > BigInt(a.crid) ? 1 : -1));
}

/** A checkpoint of the whole store's history graph. */
export interface GraphNode {
  crid: string;
  parent: string | null;
  entry: LogEntry;
  /** Branches holding this CRID. */
  branches: string[];
  /** Branches whose newest image this is. */
  heads: string[];
  /** Branches that were forked at this CRID. */
  forks: string[];
}

/**
 * Every CRID of the store once, newest first, with the branches holding it. A CRID's parent is
 * its original one (a coalesced branch may hold it as a full image; its parent is still history).
 */
export function storeGraph(store: Store, only?: string): GraphNode[] {
  const nodes = new Map<string, GraphNode>();
  for (const name of only !== undefined ? [only] : store.branchNames()) {
    const meta = store.branch(name);
    const history = branchHistory(store, name);
    for (const e of history) {
      let node = nodes.get(e.crid);
      if (!node) {
        node = { crid: e.crid, parent: e.parent, entry: e, branches: [], heads: [], forks: [] };
        nodes.set(e.crid, node);
      }
      node.parent ??= e.parent;
      node.branches.push(name);
      if (e.head) node.heads.push(name);
    }
    if (meta.from !== null) nodes.get(meta.from)?.forks.push(name);
  }
  return [...nodes.values()].sort((a, b) => (BigInt(b.crid) > BigInt(a.crid) ? 1 : -1));
}

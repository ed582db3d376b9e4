import { type ImageReader, type ImageSink, StreamWriter } from "@cr/format";
import { chainOf } from "./branches.js";
import { CrError } from "../errors.js";
import { type LogEntry, type Store } from "./store.js";
import { streamImage } from "./stream-entries.js";
import { TOOL_VERSION } from "../version.js";
import { imageCache } from "./store-images.js";

export interface ExportOptions {
  crid: bigint;
  /** Leave out this CRID and every image it needs (the receiver has them): it must be one CRID needs. */
  since?: bigint;
  /** The branch to read (default: the one holding CRID, main first). */
  branch?: string;
}

/** What `cr export` writes: the images, oldest first, already open. */
export interface ExportPlan {
  branch: string;
  crids: string[];
  bytes: number;
  /** Writes the stream (docs/format.md, "Export streams") to `sink`; `onProgress` counts image bytes. */
  write(sink: ImageSink, onProgress?: (done: number, total: number) => void): Promise<void>;
  close(): void;
}

/**
 * `cr export`: the images CRID needs (its ancestors and every image its REFs name), or with
 * `since` only those the receiver of since's chain lacks. They are opened under the store's
 * shared lock, each checked to be the file its branch recorded, so a coalesce cannot swap them
 * between the history read and the open; the open files stay readable after one.
 */
export function planExport(store: Store, options: ExportOptions): ExportPlan {
  const { crid, since } = options;
  return store.withLock(() => {
    const branch = options.branch ?? store.branchFor(crid);
    const meta = store.branch(branch);
    store.entry(branch, crid); // a clear error for a CRID the branch lacks
    const images = imageCache(store, branch, meta.entries);
    try {
      const chain = chainOf(meta, crid, images);
      if (since !== undefined && !chain.has(String(since))) {
        throw new CrError(`CRID ${since} is not one CRID ${crid} builds on (on branch "${branch}"): --since names an image the receiver has, older than CRID ${crid}`, { code: "BAD_CRID", crid: since });
      }
      const known = since === undefined ? new Map<string, bigint>() : chainOf(meta, since, images);
      const entries = meta.entries.filter((e) => chain.has(e.crid) && !known.has(e.crid)).sort((a, b) => (BigInt(a.crid) < BigInt(b.crid) ? -1 : 1));
      const bytes = entries.reduce((n, e) => n + images.open(BigInt(e.crid)).size, 0);
      return {
        branch,
        crids: entries.map((e) => e.crid),
        bytes,
        write: (sink, onProgress) => writeStream(sink, { crid, since: since ?? 0n, branch, bytes }, entries, images.open, onProgress),
        close: () => images.close(),
      };
    } catch (error) {
      images.close();
      throw error;
    }
  }, "shared");
}

/** Images older first: a parent and every image REFs name come before the images that need them. */
async function writeStream(
  sink: ImageSink,
  what: { crid: bigint; since: bigint; branch: string; bytes: number },
  entries: LogEntry[],
  open: (crid: bigint) => ImageReader,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const writer = await StreamWriter.start(sink, { ...what, images: entries.length, createdMs: BigInt(Date.now()), toolVersion: TOOL_VERSION });
  let done = 0;
  for (const entry of entries) {
    const image = open(BigInt(entry.crid));
    await writer.image(streamImage(entry, image), (offset, into) => image.readBytes(offset, into), (n) => onProgress?.((done += n), what.bytes));
  }
  await writer.end();
}

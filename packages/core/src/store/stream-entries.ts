import type { ImageReader, StreamImage } from "@cr/format";
import { hexIdentity, type LogEntry } from "./store.js";

/**
 * How an entry of branch.json travels in an export stream (an IMAGE frame, @cr/format
 * export-stream.ts), both ways. The facts of the image (CRID, parent, identity, size) are taken
 * from the image itself; the rest is what the branch recorded of its snapshot. branch.json is
 * user-editable, so a field that is not what it should be travels as 0 or "".
 */
export function streamImage(entry: LogEntry, image: ImageReader): StreamImage {
  return {
    crid: image.header.crid,
    parent: image.header.parentCrid,
    identity: image.identity,
    bytes: image.size,
    time: text(entry.time),
    dirtyPages: count(entry.dirtyPages),
    downtimeMs: duration(entry.downtimeMs),
    totalMs: duration(entry.totalMs),
    tracker: text(entry.tracker),
    pid: Number.isInteger(entry.pid) && entry.pid > 0 && entry.pid < 2 ** 31 ? entry.pid : 0,
    processKey: text(entry.processKey),
  };
}

/** The entry a branch records for an image received from a stream. */
export function logEntry(image: StreamImage): LogEntry {
  return {
    crid: String(image.crid),
    parent: image.parent === 0n ? null : String(image.parent),
    time: image.time,
    bytes: image.bytes,
    dirtyPages: image.dirtyPages,
    downtimeMs: image.downtimeMs,
    totalMs: image.totalMs,
    tracker: image.tracker,
    pid: image.pid,
    processKey: image.processKey,
    identity: hexIdentity(image.identity),
  };
}

function count(value: unknown): number {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0;
}

function duration(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

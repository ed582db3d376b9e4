import { CrError } from "../errors.js";
import { HashingTracker } from "./hashing.js";
import { SoftDirtyTracker } from "./soft-dirty.js";
import type { DirtyTracker, TrackerName } from "./tracker.js";
import { WriteProtectTracker } from "./write-protect.js";

export { chooseTracker, TRACKER_NAMES, type DirtyResult, type DirtyTracker, type PendingScan, type SavedPages, type TrackContext, type TrackerChoice, type TrackerName } from "./tracker.js";

export function createTracker(name: TrackerName): DirtyTracker {
  switch (name) {
    case "write-protect":
      return new WriteProtectTracker();
    case "soft-dirty":
      return new SoftDirtyTracker();
    case "hashing":
      return new HashingTracker();
    default:
      throw new CrError(`unknown tracker ${String(name)}`, { code: "UNSUPPORTED" });
  }
}

export { snapshot, processKey, type SnapshotOptions, type SnapshotResult } from "./checkpoint.js";
export { checkProcess, type CheckReport, type Problem } from "./check.js";
export { CrError, type CrErrorContext } from "./errors.js";
export { DEFAULT_BRANCH, Store, storeDir, type BranchMeta, type LogEntry } from "./store.js";
export { TRACKER_NAMES, type TrackerName } from "./trackers/index.js";
export { TOOL_VERSION } from "./version.js";
export { describeImage, type ImageDescription } from "./inspect.js";

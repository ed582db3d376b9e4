/**
 * What the command line needs before it knows which command runs (option choices, defaults,
 * the version): this module loads nothing else, so `cr --version` and `cr --help` stay fast.
 */
export { TOOL_VERSION } from "./version.js";
export { TRACKER_NAMES, type TrackerName } from "./trackers/tracker.js";
export { CrError } from "./errors.js";
export const DEFAULT_BRANCH = "main";

/** The version of cr written into every image header and printed by `cr --version`. */
export const TOOL_VERSION = "0.1.0";

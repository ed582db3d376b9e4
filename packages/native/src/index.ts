import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The addon is built by node-gyp when the package is installed; a missing build is a set-up error.
export const addon = require("../build/Release/cr_native.node") as Record<string, unknown>;

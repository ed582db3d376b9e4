#!/usr/bin/env bash
# Installs everything cr needs on a fresh machine: the pinned pnpm, the dependencies, the native
# addon (node-gyp, during install) and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  # corepack's signature check fails for current pnpm releases on Node 20, so npm installs it.
  npm install --global --no-fund --no-audit "pnpm@$want" >/dev/null
fi
pnpm install --frozen-lockfile
test -f packages/native/build/Release/cr_native.node || {
  echo "setup: the native addon was not built (packages/native/build/Release/cr_native.node)" >&2
  exit 1
}

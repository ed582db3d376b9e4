#!/usr/bin/env bash
# Installs everything cr needs on a fresh machine: the pinned pnpm, the dependencies, the native
# addon (node-gyp, during install) and the TypeScript build; then puts `cr` on PATH.
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

# `cr` on PATH: a link to bin/cr in $CR_BIN_DIR, else /usr/local/bin (root), else ~/.local/bin.
# Uninstall: rm "$(command -v cr)". A `cr` that is not ours is left alone.
bin_dir=${CR_BIN_DIR:-/usr/local/bin}
[ -w "$bin_dir" ] || bin_dir="$HOME/.local/bin"
mkdir -p "$bin_dir"
link="$bin_dir/cr"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "setup: $link exists and is not a link to cr: left alone; run $PWD/bin/cr instead" >&2
else
  ln -sfn "$PWD/bin/cr" "$link"
  case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "setup: cr is in $bin_dir, which is not on your PATH: add it (export PATH=\"$bin_dir:\$PATH\")" >&2 ;;
  esac
fi

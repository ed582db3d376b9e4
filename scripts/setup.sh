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

# Programs the tests run as they are (strace holds cr inside a syscall, lz4 reads cr's blocks,
# gcc builds the test programs, the rest are workloads): installed when missing.
missing=""
for tool in gcc:gcc make:make strace:strace lz4:lz4 xz:xz-utils bzip2:bzip2 perl:perl python3:python3 redis-server:redis-server tmux:tmux nft:nftables; do
  command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
# The native addon compresses pages with the reference LZ4 library: its header, to build against.
[ -f /usr/include/lz4.h ] || missing="$missing liblz4-dev"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: the tests need these Debian packages:$missing (run as root to install them)" >&2
  fi
fi

# The native addon builds during install with 4 compilers (packages/native/package.json): more
# than the 2 cores here, so that on a busy machine the build still gets its share of them.
pnpm install --frozen-lockfile
test -f packages/native/build/Release/cr_native.node || {
  echo "setup: the native addon was not built (packages/native/build/Release/cr_native.node)" >&2
  exit 1
}

# `cr` on PATH: a launcher of this checkout's build in $CR_BIN_DIR, else /usr/local/bin when it
# can be written, else ~/.local/bin. It names node and the build by absolute path (cron's PATH
# has neither) and starts no other process (a fork costs ~20 ms here). Uninstall:
# rm "$(command -v cr)". A `cr` this script did not write is left alone.
bin_dir=${CR_BIN_DIR:-/usr/local/bin}
[ -w "$bin_dir" ] || bin_dir="$HOME/.local/bin"
mkdir -p "$bin_dir"
launcher="$bin_dir/cr"
marker="# cr launcher, written by scripts/setup.sh"
if [ -e "$launcher" ] && ! grep -qF "$marker" "$launcher"; then
  echo "setup: $launcher is not a cr launcher: left alone; run $PWD/packages/cli/dist/bundle/cr.js instead" >&2
else
  node=$(command -v node)
  bundle="$PWD/packages/cli/dist/bundle/cr.js"
  cat > "$launcher.new" <<EOF
#!/bin/sh
$marker from $PWD (uninstall: rm $launcher)
# A snapshot gets a 16 MiB young generation, emptied before its freeze, and its code compiled at start-up
# (packages/cli/src/main.ts): both cost start-up.
case "\${1:-}" in snapshot) exec '$node' --min-semi-space-size=16 --no-lazy --expose-gc '$bundle' "\$@" ;; esac
exec '$node' '$bundle' "\$@"
EOF
  chmod 755 "$launcher.new"
  mv -f "$launcher.new" "$launcher"
  case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "setup: cr is in $bin_dir, which is not on your PATH: add it (export PATH=\"$bin_dir:\$PATH\")" >&2 ;;
  esac
fi

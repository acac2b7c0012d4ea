#!/usr/bin/env bash
# Shared set-up for a fresh clone: makes Bun available (installing it with npm when it is missing),
# then installs the project's dependencies.
#
#   source scripts/setup.sh [--no-native]   from another script (demo.sh, test.sh): Bun stays on its PATH
#   bash scripts/setup.sh [--no-native]     by hand: prints the PATH entry to add if Bun was installed locally
#
# Bun goes where npm installs global packages when that is writable; otherwise (a system-wide Node
# and no root: npm -g fails with EACCES) into .tools/bun in this checkout, which is then put on PATH.
#
# better-sqlite3 (the Node driver, a dev dependency here) is built from source against Node's headers,
# which npm's config knows and Bun's installer does not. --no-native skips that build for what needs
# only Bun (the demo); a later run without it builds the driver.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

native=1
for arg in "$@"; do
  case "$arg" in
    --no-native) native=0 ;;
    *) echo "setup: unknown option $arg (usage: setup.sh [--no-native])" >&2; exit 2 ;;
  esac
done

local_bun="$PWD/.tools/bun/node_modules/.bin"
if ! command -v bun >/dev/null 2>&1; then
  if [ ! -x "$local_bun/bun" ]; then
    prefix="$(npm config get prefix)"
    global_modules="$prefix/lib/node_modules"
    if [ -w "$global_modules" ] || { [ ! -e "$global_modules" ] && [ -w "$prefix" ]; }; then
      echo "setup: installing Bun with npm install -g" >&2
      npm install -g --no-audit --no-fund bun >&2
      command -v bun >/dev/null 2>&1 || export PATH="$prefix/bin:$PATH"
    else
      echo "setup: $global_modules is not writable; installing Bun with npm into .tools/bun" >&2
      npm install --prefix "$PWD/.tools/bun" --no-audit --no-fund bun >&2
    fi
  fi
  if ! command -v bun >/dev/null 2>&1; then
    export PATH="$local_bun:$PATH"
    if [ "${BASH_SOURCE[0]}" = "$0" ]; then
      echo "setup: Bun is installed in .tools/bun; to use it yourself: export PATH=\"$local_bun:\$PATH\"" >&2
    fi
  fi
fi

nodedir="$(npm config get nodedir 2>/dev/null || true)"
if [ -n "$nodedir" ] && [ "$nodedir" != "undefined" ] && [ "$nodedir" != "null" ]; then
  export npm_config_nodedir="$nodedir"
fi

if [ ! -d node_modules/.bin ] || [ package.json -nt node_modules/.bin ] || [ bun.lock -nt node_modules/.bin ]; then
  if [ "$native" = 1 ]; then
    echo "setup: installing dependencies" >&2
    bun install --frozen-lockfile >&2
  else
    echo "setup: installing dependencies (no native builds)" >&2
    bun install --frozen-lockfile --ignore-scripts >&2
  fi
  touch node_modules/.bin
fi

if [ "$native" = 1 ] && [ ! -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; then
  echo "setup: building better-sqlite3 for Node" >&2
  npm rebuild better-sqlite3 >&2
fi

#!/usr/bin/env bash
# Shared set-up for a fresh clone: installs Bun (through npm) when it is missing, then the
# project's dependencies. better-sqlite3 (the Node driver, a dev dependency here) builds from
# source against Node's headers, which npm's config knows and Bun's installer does not.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bun >/dev/null 2>&1; then
  echo "setup: installing Bun with npm" >&2
  npm install -g bun >&2
fi

if [ ! -d node_modules/.bin ] || [ package.json -nt node_modules/.bin ] || [ bun.lock -nt node_modules/.bin ]; then
  nodedir="$(npm config get nodedir 2>/dev/null || true)"
  if [ -n "$nodedir" ] && [ "$nodedir" != "undefined" ] && [ "$nodedir" != "null" ]; then
    export npm_config_nodedir="$nodedir"
  fi
  echo "setup: installing dependencies" >&2
  bun install --frozen-lockfile >&2
  touch node_modules/.bin
fi

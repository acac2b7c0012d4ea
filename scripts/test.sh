#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, typecheck (including the compile-time
# guarantees in test/types), every Bun suite, then the Node suites.
set -euo pipefail
cd "$(dirname "$0")/.."
# Sourced, so a Bun that setup installed into .tools/bun is on this script's PATH (and its children's).
source scripts/setup.sh

echo "== typecheck" >&2
bunx tsc --noEmit -p tsconfig.json

echo "== bun test" >&2
bun test --timeout 120000 test/unit test/contract test/engine test/crash test/inspect test/cli test/readme

echo "== node (contract, crash and race under node --test; the packed tarball from npm)" >&2
bun run test:node

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

echo "== bun test on Postgres (the engine suites that drive a ManualClock, on a Postgres store)" >&2
REFLOW_TEST_BACKEND=postgres bun test --timeout 120000 test/engine/lifecycle.test.ts test/engine/promises.test.ts \
  test/engine/time-events.test.ts test/engine/delay-result.test.ts test/engine/retry-timeout.test.ts test/engine/deploys.test.ts
bun test/postgres/server.ts >&2

echo "== node (contract, crash and race under node --test; the packed tarball from npm)" >&2
bun run test:node

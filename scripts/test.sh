#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, a Postgres server, typecheck (including the compile-time
# guarantees in test/types), every Bun suite, then the Node suites.
set -euo pipefail
cd "$(dirname "$0")/.."
# Sourced, so a Bun that setup installed into .tools/bun is on this script's PATH (and its children's).
source scripts/setup.sh

echo "== postgres" >&2
# A server for the Postgres suites (test/contract/postgres.test.ts, test/crash/*postgres*): started or
# installed when none answers at REFLOW_TEST_POSTGRES_URL.
source scripts/postgres.sh

echo "== typecheck" >&2
bunx tsc --noEmit -p tsconfig.json

# The dashboard tests drive Debian's chromium (playwright-core downloads no browser): install it when missing.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium for the dashboard tests (test/ui)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get update && apt-get install -y chromium; else sudo apt-get update && sudo apt-get install -y chromium; fi
fi

echo "== bun test" >&2
bun test --timeout 120000 test/unit test/contract test/engine test/crash test/inspect test/cli test/ui test/readme

echo "== bun test on Postgres (the engine suites that drive a ManualClock, on a Postgres store)" >&2
REFLOW_TEST_BACKEND=postgres bun test --timeout 120000 test/engine/lifecycle.test.ts test/engine/promises.test.ts \
  test/engine/time-events.test.ts test/engine/delay-result.test.ts test/engine/retry-timeout.test.ts test/engine/deploys.test.ts
bun test/postgres/server.ts >&2

echo "== node (contract, crash and race under node --test; the packed tarball from npm)" >&2
bun run test:node

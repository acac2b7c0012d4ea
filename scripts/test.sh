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

echo "== bun test" >&2
bun test --timeout 120000 test/unit test/contract test/engine test/crash test/inspect test/cli test/readme

echo "== node (contract, crash and race under node --test; the packed tarball from npm)" >&2
bun run test:node

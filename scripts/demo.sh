#!/usr/bin/env bash
# Runs the crash-and-resume demo on a fresh clone: sets up Bun and dependencies, then the demo.
# Sourced, so a Bun that setup installed into .tools/bun is on this script's PATH; the demo needs only
# Bun, so the Node driver (better-sqlite3) is not built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --no-native
exec bun scripts/demo.ts

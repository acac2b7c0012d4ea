#!/usr/bin/env bash
# Runs the crash-and-resume demo on a fresh clone: sets up Bun and dependencies, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bun scripts/demo.ts

#!/usr/bin/env node
// The npm `bin` entry. package.json "imports" picks the CLI for the runtime: under Node the one built
// into dist/ (on better-sqlite3), under Bun (bunx --bun reflow) the TypeScript sources (on bun:sqlite).
import '#cli-main'

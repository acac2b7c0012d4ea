#!/usr/bin/env bun
// The npm `bin` entry: runs the same CLI as the compiled `reflow` binary, through Bun.
import './main.ts'

/**
 * bun build.ts [lib|cli]: builds the npm package's dist/ (per-file ESM + .d.ts, exports checked)
 * and the single-file `reflow` executable (dist/reflow). With no argument, builds both.
 */

import { buildBinary } from './scripts/build-cli.ts'
import { buildLibrary } from './scripts/build-lib.ts'

const target = process.argv[2] ?? 'all'
if (target === 'all' || target === 'lib') await buildLibrary()
if (target === 'all' || target === 'cli') await buildBinary()

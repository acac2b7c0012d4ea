// One import for both runtimes: the package's export conditions pick the driver.
import { SQLiteStorage } from 'reflow-ts/sqlite'
import { quickstart } from './quickstart.mjs'
import { report } from './report.mjs'

const runtime = process.versions.bun ? 'bun' : 'node'
report({ resolved: import.meta.resolve('reflow-ts/sqlite'), ...(await quickstart(SQLiteStorage, `./sqlite-${runtime}-shared.db`)) })

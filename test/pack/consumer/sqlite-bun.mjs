import { SQLiteStorage } from 'reflow-ts/sqlite-bun'
import { quickstart } from './quickstart.mjs'
import { report } from './report.mjs'

report({ resolved: import.meta.resolve('reflow-ts/sqlite-bun'), ...(await quickstart(SQLiteStorage, './sqlite-bun.db')) })

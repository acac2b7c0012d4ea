import { SQLiteStorage } from 'reflow-ts/sqlite-node'
import { quickstart } from './quickstart.mjs'
import { report } from './report.mjs'

report({ resolved: import.meta.resolve('reflow-ts/sqlite-node'), ...(await quickstart(SQLiteStorage, './sqlite-node.db')) })

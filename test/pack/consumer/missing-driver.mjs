// Run before better-sqlite3 is installed: importing works, constructing says what to install.
import { ReflowError, StorageError } from 'reflow-ts'
import { SQLiteStorage } from 'reflow-ts/sqlite'
import { report } from './report.mjs'

try {
  new SQLiteStorage('./never.db')
  report({ constructed: true })
} catch (error) {
  report({ constructed: false, message: error.message, code: error.code, storageError: error instanceof StorageError && error instanceof ReflowError })
}

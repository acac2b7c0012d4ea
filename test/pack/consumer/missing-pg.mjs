// Run without pg installed: importing reflow-ts/postgres works, constructing says what to install.
import { ReflowError, StorageError } from 'reflow-ts'
import { PostgresStorage } from 'reflow-ts/postgres'
import { report } from './report.mjs'

try {
  new PostgresStorage('postgres://app@localhost/app')
  report({ constructed: true })
} catch (error) {
  report({ constructed: false, message: error.message, code: error.code, storageError: error instanceof StorageError && error instanceof ReflowError })
}

/**
 * Identifiers (workflow names, step names, idempotency keys, run ids) must be well-formed Unicode: an
 * unpaired surrogate has no UTF-8 form, so SQLite drivers replace it (bun:sqlite stores U+FFFD, and
 * keys that differ only there collide) or disagree with each other.
 */

import { describe, expect, test } from 'bun:test'
import { z } from 'zod'
import { assertWellFormed } from '../../src/core/identifiers.ts'
import { createEngine, createWorkflow, InvalidArgumentError } from '../../src/index.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'

const LONE = ['a\ud800', '\udc00b', 'x\udbffy', 'a\udc00\ud800b']

describe('assertWellFormed', () => {
  test('accepts well-formed strings, surrogate pairs included', () => {
    for (const value of ['', 'checkout:ORD_1', 'café', '😀', 'a\u{10ffff}b', '\ufffd']) {
      expect(() => assertWellFormed('Idempotency key', value)).not.toThrow()
    }
  })

  test('rejects an unpaired surrogate with an InvalidArgumentError naming the value, escaped, and what is expected', () => {
    for (const value of LONE) {
      const error = (() => {
        try {
          assertWellFormed('Idempotency key', value)
        } catch (e) {
          return e as InvalidArgumentError
        }
      })()
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect(error!.code).toBe('INVALID_ARGUMENT')
      expect(error!.message).toStartWith(`Idempotency key ${JSON.stringify(value)} is not well-formed Unicode`)
      expect(error!.message).toContain('unpaired UTF-16 surrogate')
      expect(error!.message).not.toMatch(/[\ud800-\udfff]/)
    }
    expect(() => assertWellFormed('Run id', 'x\ud83d')).toThrow('Run id "x\\ud83d" is not well-formed Unicode: U+D83D at index 1 is an unpaired UTF-16 surrogate')
  })
})

describe('createWorkflow and .step', () => {
  const input = z.object({})

  test('reject workflow names that are not well-formed', () => {
    for (const name of LONE) {
      expect(() => createWorkflow({ name, input })).toThrow(InvalidArgumentError)
      expect(() => createWorkflow({ name, input })).toThrow(`createWorkflow: name ${JSON.stringify(name)} is not well-formed Unicode`)
    }
  })

  test('reject step names that are not well-formed', () => {
    const wf = createWorkflow({ name: 'w', input })
    for (const name of LONE) {
      expect(() => wf.step(name, () => 1)).toThrow(InvalidArgumentError)
      expect(() => wf.step(name, () => 1)).toThrow(`Workflow "w": step name ${JSON.stringify(name)} is not well-formed Unicode`)
    }
  })

  test('well-formed names, astral characters included, still work', () => {
    const wf = createWorkflow({ name: 'w😀', input }).step('s😀', () => 1)
    expect(wf.name).toBe('w😀')
    expect(wf.steps.map((s) => s.name)).toEqual(['s😀'])
  })
})

test('engine.enqueue refuses an idempotency key that is not well-formed Unicode, creating nothing', async () => {
  const storage = new MemoryStorage()
  const wf = createWorkflow({ name: 'keyed', input: z.object({}) }).step('a', () => 1)
  const engine = createEngine({ storage, workflows: [wf] })
  await expect(engine.enqueue('keyed', {}, { idempotencyKey: 'order:\ud800' })).rejects.toThrow(/idempotency key "order:\\ud800" is not well-formed Unicode/)
  expect(await storage.claimNextRun(['keyed'])).toBeNull()
})

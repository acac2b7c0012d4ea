/**
 * Standard Schema support. The interface is copied (as the Standard Schema spec recommends) so the
 * published package has no dependencies; test/types checks it stays compatible with
 * @standard-schema/spec. Any library that implements it works: zod, valibot, arktype, ...
 */

import { ValidationError } from '../core/errors.ts'

/** The Standard Schema v1 interface, as published at https://standardschema.dev. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

export declare namespace StandardSchemaV1 {
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>
    readonly types?: Types<Input, Output> | undefined
  }
  export type Result<Output> = SuccessResult<Output> | FailureResult
  export interface SuccessResult<Output> {
    readonly value: Output
    readonly issues?: undefined
  }
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>
  }
  export interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }
  export interface PathSegment {
    readonly key: PropertyKey
  }
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input
    readonly output: Output
  }
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['input']
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['output']
}

/** Validates `value` against `schema`; returns the parsed value or throws ValidationError. */
export async function validateInput<S extends StandardSchemaV1>(
  workflow: string,
  schema: S,
  value: unknown,
  subject?: string,
): Promise<StandardSchemaV1.InferOutput<S>> {
  let result = schema['~standard'].validate(value)
  if (result instanceof Promise) result = await result
  if (result.issues) throw new ValidationError(workflow, result.issues, subject)
  return result.value as StandardSchemaV1.InferOutput<S>
}

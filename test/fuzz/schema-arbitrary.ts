import fc from 'fast-check'

/** A JSON Schema node of the OpenAPI document (2020-12 subset). */
export type Schema = { [k: string]: any }

export interface GenerationOptions {
  /** The schema a `$ref` (`#/components/schemas/X`) names. */
  resolve: (ref: string) => Schema
  /** Values worth mixing in for a property of this name (real ids, a real content hash…). */
  hint?: (name: string) => fc.Arbitrary<unknown> | undefined
  /**
   * Unremarkable values only: real ones where there are hints, small integers,
   * short ASCII strings, no boundaries. A sweep's base request must be tame, or
   * every variant of it would fail for the base's reason instead of its own.
   */
  tame?: boolean
}

const MIN_INT = -(2 ** 31)
const MAX_INT = 2 ** 31 - 1

/**
 * An arbitrary of values VALID against `schema`, over the part of JSON Schema
 * the document uses: $ref, anyOf/oneOf, const, enum, type (or a list of
 * types), string length/pattern/format (uuid, date-time), integer and number
 * bounds, array items and sizes, object properties/required. Boundary values
 * (the longest string, the largest integer) are drawn on purpose: they are
 * where validation and storage disagree. `name` is the property's name, for hints.
 */
export function arbitraryOf(schema: Schema, options: GenerationOptions, name?: string): fc.Arbitrary<unknown> {
  const hinted = name === undefined ? undefined : options.hint?.(name)
  if (hinted && options.tame) return hinted
  const plain = fromSchema(schema, options)
  return hinted ? fc.oneof({ weight: 3, arbitrary: hinted }, { weight: 1, arbitrary: plain }) : plain
}

function fromSchema(schema: Schema, options: GenerationOptions): fc.Arbitrary<unknown> {
  if (schema.$ref) return fromSchema(options.resolve(schema.$ref), options)
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives) return fc.oneof(...alternatives.map((s: Schema) => fromSchema(s, options)))
  if ('const' in schema) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  if (Array.isArray(schema.type))
    return fc.oneof(...schema.type.map((type: string) => fromSchema({ ...schema, type }, options)))
  switch (schema.type) {
    case 'string':
      return stringOf(schema, options.tame === true)
    case 'integer':
      return integerOf(schema, options.tame === true)
    case 'number':
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true
      })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return arrayOf(schema, options)
    case 'object':
      return objectOf(schema, options)
    default:
      return fc.jsonValue({ maxDepth: 2 }) // `{}`: anything
  }
}

function stringOf(schema: Schema, tame: boolean): fc.Arbitrary<string> {
  const min: number = schema.minLength ?? 0
  const max: number = schema.maxLength ?? 200
  if (schema.format === 'uuid') return fc.uuid()
  if (schema.format === 'date-time') {
    return fc
      .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString())
  }
  if (schema.pattern) {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= min && s.length <= max)
  }
  if (tame)
    return fc.string({
      minLength: Math.max(min, 1),
      maxLength: Math.min(max, 12),
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ')
    })
  const text = fc
    .string({
      minLength: min,
      maxLength: Math.min(max, 40),
      unit: fc.oneof(
        { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) }
      )
    })
    .filter((s) => s.length >= min && s.length <= max && !s.includes('\u0000'))
  return fc.oneof(
    { weight: 8, arbitrary: text },
    { weight: 1, arbitrary: fc.constant('x'.repeat(max)) },
    { weight: 1, arbitrary: fc.constant('y'.repeat(Math.max(min, 1))) }
  )
}

function integerOf(schema: Schema, tame: boolean): fc.Arbitrary<number> {
  const min: number = schema.minimum ?? Number.MIN_SAFE_INTEGER
  const max: number = schema.maximum ?? Number.MAX_SAFE_INTEGER
  if (tame) return fc.integer({ min: Math.max(min, -10), max: Math.min(max, Math.max(min, -10) + 10) })
  const small = fc.integer({ min: Math.max(min, MIN_INT), max: Math.min(max, MAX_INT) })
  const any = fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number)
  return fc.oneof(
    { weight: 6, arbitrary: small },
    { weight: 1, arbitrary: any },
    { weight: 1, arbitrary: fc.constantFrom(min, max) }
  )
}

function arrayOf(schema: Schema, options: GenerationOptions): fc.Arbitrary<unknown[]> {
  const items = schema.items ? fromSchema(schema.items, options) : fc.jsonValue({ maxDepth: 1 })
  const min: number = schema.minItems ?? 0
  const max: number = schema.maxItems ?? 10
  const usual = fc.array(items, { minLength: min, maxLength: Math.max(min, Math.min(max, 3)) })
  return max <= 50 && options.tame !== true
    ? fc.oneof(
        { weight: 9, arbitrary: usual },
        { weight: 1, arbitrary: fc.array(items, { minLength: max, maxLength: max }) }
      )
    : usual
}

function objectOf(schema: Schema, options: GenerationOptions): fc.Arbitrary<Record<string, unknown>> {
  const properties: Record<string, Schema> = schema.properties ?? {}
  const model = Object.fromEntries(Object.entries(properties).map(([key, s]) => [key, arbitraryOf(s, options, key)]))
  return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<Record<string, unknown>>
}

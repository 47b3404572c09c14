import type { FastifyInstance, FastifyRequest } from 'fastify'
import sjson from 'secure-json-parse'
import { DomainError, type ErrorDetail, MAX_LISTED_ERRORS } from '../errors.ts'
import { unstorableText } from '../lib/text.ts'

/** Deeper than any body the API takes (an agreement is 5 levels): deeper input is refused before anything walks it. */
export const MAX_JSON_DEPTH = 32

const pointer = (path: ReadonlyArray<string | number>): string =>
  path.map((p) => `/${String(p).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')

/** The deepest nesting of arrays and objects in JSON text, counted without parsing (strings skipped). */
function depthOf(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92)
        i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      if (++depth > max) max = depth
    } else if (c === 93 || c === 125) depth--
  }
  return max
}

/**
 * Every string (keys too) in a parsed JSON value that cannot be stored, and
 * every number JSON text can spell but no finite number holds (1e309 parses
 * to Infinity, which canonical JSON and PostgreSQL refuse), with its JSON Pointer; iterative.
 */
function unstorableValues(value: unknown, where: string): ErrorDetail[] {
  const found: ErrorDetail[] = []
  const stack: Array<{ value: unknown; path: Array<string | number> }> = [{ value, path: [] }]
  // One more than is listed, so that the detail can say there are more (countOf).
  while (stack.length > 0 && found.length <= MAX_LISTED_ERRORS) {
    const { value: v, path } = stack.pop()!
    if (typeof v === 'string') {
      const problem = unstorableText(v)
      if (problem) found.push({ in: where, path: pointer(path), message: problem })
    } else if (typeof v === 'number' && !Number.isFinite(v)) {
      found.push({ in: where, path: pointer(path), message: 'a number too large for any finite value' })
    } else if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) stack.push({ value: item, path: [...path, i] })
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        const problem = unstorableText(k)
        if (problem) found.push({ in: where, path: pointer([...path, k]), message: `a key ${problem}` })
        if (found.length > MAX_LISTED_ERRORS) break
        stack.push({ value: item, path: [...path, k] })
      }
    }
  }
  return found
}

// Only an escape can put a NUL or a lone surrogate in parsed JSON (a raw control character is a syntax error,
// and UTF-8 decoding never yields a surrogate), and only an exponent of three digits or 309 digits an infinite
// number: bodies without either skip the walk.
const SUSPECT = /\\u(?:0000|[dD][89a-fA-F])|\d[eE][+]?\d{3}|\d{309}/

/**
 * The one JSON body parser: secure-json-parse (refuses `__proto__` and
 * `constructor.prototype` keys, which could poison prototypes downstream),
 * plus the limits every validator after it relies on: nesting at most
 * MAX_JSON_DEPTH (the canonicalizer and the schema validators recurse), and no
 * string the database would refuse. Each refusal is a 400 that says what is wrong.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
      const text = typeof body === 'string' ? body : body.toString('utf8')
      // No body at all: a route that takes none is fine with it, one that needs one says what is missing.
      if (text.trim() === '') return done(null, undefined)
      if (depthOf(text) > MAX_JSON_DEPTH)
        return done(
          new DomainError('VALIDATION_FAILED', `the body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`, {
            errors: [{ in: 'body', path: '', message: `nested more than ${MAX_JSON_DEPTH} levels` }]
          })
        )
      let value: unknown
      try {
        value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
      } catch (err) {
        if (err instanceof SyntaxError && /forbidden prototype/.test(err.message)) {
          return done(
            new DomainError(
              'VALIDATION_FAILED',
              'the body uses a key reserved by JavaScript (__proto__, or constructor with prototype)',
              {
                errors: [{ in: 'body', path: '', message: 'keys __proto__ and constructor.prototype are not allowed' }]
              }
            )
          )
        }
        return done(new DomainError('MALFORMED_JSON', 'the body is not valid JSON'))
      }
      const bad = SUSPECT.test(text) ? unstorableValues(value, 'body') : []
      if (bad.length > 0)
        return done(
          new DomainError('VALIDATION_FAILED', `${countOf(bad, 'value')} in the body cannot be stored`, { errors: bad })
        )
      done(null, value)
    }
  )
}

const allStorable = (parameters: unknown): boolean => {
  if (parameters === null || typeof parameters !== 'object') return true
  for (const value of Object.values(parameters)) {
    if (typeof value !== 'string' || unstorableText(value) !== null) return false
  }
  return true
}

/** The same refusal for query and path parameters (a `%00` decodes to NUL), before schema validation. */
export function assertStorableParameters(request: FastifyRequest): void {
  // Query and path parameters are flat strings: a quick pass over them, the walk only when one is suspect.
  if (allStorable(request.query) && allStorable(request.params)) return
  const bad = [...unstorableValues(request.query, 'query'), ...unstorableValues(request.params, 'path')]
  if (bad.length > 0)
    throw new DomainError('VALIDATION_FAILED', `${countOf(bad, 'parameter')} cannot be stored`, { errors: bad })
}

/** "1 value", "3 values", or "more than 20 values" when the walk stopped at one more than is listed. */
const countOf = (found: readonly ErrorDetail[], noun: string): string =>
  found.length > MAX_LISTED_ERRORS
    ? `more than ${MAX_LISTED_ERRORS} ${noun}s`
    : `${found.length} ${noun}${found.length === 1 ? '' : 's'}`

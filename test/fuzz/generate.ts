import fc from 'fast-check'
import type { OpenApiDocument, Operation } from './contract.ts'
import {
  CURSOR_FORGERIES,
  describeValue,
  HOSTILE_HEADER,
  HOSTILE_MEDIA,
  HOSTILE_QUERY,
  HOSTILE_VALUES,
  hostileSegments,
  RawJson,
  toJsonText
} from './hostile.ts'
import {
  ForgedCursor,
  type FuzzRequest,
  fieldsOf,
  Real,
  replaceAt,
  SegmentOf,
  type Value,
  valueAt,
  Wire,
  wireEncode
} from './request.ts'
import { arbitraryOf, type Schema } from './schema-arbitrary.ts'
import { CALLERS, type Caller } from './world.ts'

/** Everything generation needs from the document and the world's names. */
export class RequestFactory {
  private readonly doc: OpenApiDocument
  private readonly realNames: ReadonlySet<string>

  constructor(doc: OpenApiDocument, realNames: Iterable<string>) {
    this.doc = doc
    this.realNames = new Set(realNames)
  }

  /** Valid values for `schema`, real ones mixed in (tame: only) for names the world knows. */
  valueOf(
    schema: Schema,
    name: string | undefined,
    options: { everyProperty?: boolean; tame?: boolean } = {}
  ): fc.Arbitrary<Value> {
    const resolve = (ref: string): Schema => this.doc.components.schemas[ref.slice('#/components/schemas/'.length)]!
    const offset = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 7 }) })
    const hint = (n: string): fc.Arbitrary<unknown> | undefined =>
      this.realNames.has(n) ? offset.map((i) => new Real(n, i)) : undefined
    return arbitraryOf(
      options.everyProperty ? withEveryProperty(schema, resolve) : schema,
      { resolve, hint, tame: options.tame === true },
      name
    )
  }

  /**
   * A request valid against the document (path, query and body) sent by
   * `caller`. Tame requests (the base of every hostile variant) carry only
   * required query parameters, `If-Match: *` on writes and no Idempotency-Key;
   * others draw boundaries, undeclared headers and reused keys too.
   */
  valid(op: Operation, caller: fc.Arbitrary<Caller>, tame: boolean): fc.Arbitrary<FuzzRequest> {
    const pathParams = op.parameters.filter((p) => p.in === 'path')
    const queryParams = op.parameters.filter((p) => p.in === 'query' && (p.required || !tame))
    // A path segment is never empty (the document allows "" for `code`, which would be GET /problems, another operation).
    const path = fc.record(
      Object.fromEntries(pathParams.map((p) => [p.name, this.valueOf({ minLength: 1, ...p.schema }, p.name, { tame })]))
    )
    const query = fc
      .tuple(
        ...queryParams.map((p) =>
          p.required
            ? this.valueOf(p.schema, p.name, { tame }).map((v) => [[p.name, v]] as Array<[string, Value]>)
            : fc
                .option(this.valueOf(p.schema, p.name), { freq: 2 })
                .map((v) => (v === null ? [] : ([[p.name, v]] as Array<[string, Value]>)))
        )
      )
      .map((pairs) => pairs.flat())
    const headerParams = op.parameters.filter(
      (p) => p.in === 'header' && !OWN_HEADERS.has(p.name.toLowerCase()) && (p.required || !tame)
    )
    const headers = fc
      .tuple(
        ...headerParams.map((p) =>
          p.required
            ? this.valueOf(p.schema, p.name, { tame }).map((v) => [[p.name, v]] as Array<[string, Value]>)
            : fc
                .option(this.valueOf(p.schema, p.name), { freq: 2 })
                .map((v) => (v === null ? [] : ([[p.name, v]] as Array<[string, Value]>)))
        )
      )
      .map((pairs) => pairs.flat())
    const body = op.body ? this.valueOf(op.body, undefined, { tame }) : fc.constant(undefined)
    const writes = op.method !== 'GET'
    const ifMatchRequired = op.parameters.some(
      (p) => p.in === 'header' && p.name.toLowerCase() === 'if-match' && p.required
    )
    const ifMatch = !writes
      ? fc.constant(undefined)
      : tame
        ? fc.constant<FuzzRequest['ifMatch']>('*')
        : fc.constantFrom<FuzzRequest['ifMatch']>(
            ...(ifMatchRequired ? [] : [undefined]),
            '*',
            '*',
            'etag',
            'etag',
            'stale'
          )
    const idempotencyKey =
      op.method !== 'POST' || tame
        ? fc.constant(undefined)
        : fc.constantFrom<FuzzRequest['idempotencyKey']>(undefined, undefined, undefined, 'fresh', 'reused')
    return fc
      .record({ caller, path, query, headers, body, ifMatch, idempotencyKey, k: fc.nat({ max: 1000 }) })
      .map((r) => ({ op, inputClass: 'valid', ...r, body: r.body }))
  }

  /** A tame valid body with every optional property present, so that every field can be replaced in turn. */
  fullBody(op: Operation): fc.Arbitrary<Value> {
    return op.body ? this.valueOf(op.body, undefined, { everyProperty: true, tame: true }) : fc.constant(undefined)
  }

  /**
   * Every hostile variant of `base`, one substitution each: each body field
   * (taken from the first of `bodies` that has it: bodies the server accepted
   * come first, so that the rest of the body is no reason to refuse it), the
   * whole body, query values, path segments, headers, media types. The body
   * fields come first: a variant the server accepts may spend the state the
   * next one needs (a declined proposal cannot be declined again).
   */
  sweep(base: FuzzRequest, bodies: Value[]): FuzzRequest[] {
    const out: FuzzRequest[] = []
    const op = base.op
    const variant = (inputClass: string, hostile: string, change: Partial<FuzzRequest>): void => {
      out.push({ ...base, inputClass, hostile, ...change })
    }
    if (op.body) {
      // Value by value (NUL in every field, then lone surrogates…): the values that change nothing come before those a server may accept.
      const fields = new Map<string, Value>()
      for (const body of bodies)
        for (const pointer of fieldsOf(body)) if (!fields.has(pointer)) fields.set(pointer, body)
      for (const h of HOSTILE_VALUES) {
        for (const [pointer, body] of fields)
          variant(`body field: ${h.name}`, `${pointer} = ${describeValue(h.value)}`, {
            body: replaceAt(body, pointer, h.value)
          })
      }
      // Real, but not the one that belongs: another version's content hash, another invitation's token.
      for (const [pointer, body] of fields) {
        const value = valueAt(body, pointer)
        if (value instanceof Real)
          variant('body field: another real value', `${pointer} = another real ${value.name}`, {
            body: replaceAt(body, pointer, new Real(value.name, value.offset + 1))
          })
      }
      // The idempotency layer fingerprints the whole body after validation: one field stands for all.
      const [first] = fields
      if (op.method === 'POST' && first) {
        for (const h of HOSTILE_VALUES)
          variant(`body field, with an Idempotency-Key: ${h.name}`, `${first[0]} = ${describeValue(h.value)}`, {
            body: replaceAt(first[1], first[0], h.value),
            idempotencyKey: 'fresh'
          })
      }
      for (const key of ['__proto__', 'constructor', 'unknownField']) {
        const extra =
          typeof base.body === 'object' && base.body !== null
            ? { ...base.body, [key]: key === 'unknownField' ? 1 : { polluted: true } }
            : base.body
        variant(`body extra key: ${key}`, `extra key ${key}`, { body: extra })
      }
    }
    if (op.method !== 'GET') {
      const whole = op.body ? 'whole body' : 'body on a route without one'
      for (const h of HOSTILE_VALUES)
        variant(`${whole}: ${h.name}`, `body = ${describeValue(h.value)}`, { body: h.value })
      // The idempotency layer reads every body (its fingerprint) before any route does.
      if (op.method === 'POST')
        for (const h of HOSTILE_VALUES)
          variant(`${whole}, with an Idempotency-Key: ${h.name}`, `body = ${describeValue(h.value)}`, {
            body: h.value,
            idempotencyKey: 'fresh'
          })
      for (const m of HOSTILE_MEDIA)
        variant(
          `media: ${m.name}`,
          `Content-Type: ${m.contentType ?? '(none)'}, payload ${JSON.stringify(m.payload)}`,
          { media: m, body: undefined }
        )
      for (const h of HOSTILE_HEADER) {
        variant(`header If-Match: ${h.name}`, `If-Match: ${describeValue(h.value)}`, {
          ifMatch: { raw: String(h.value) }
        })
        if (op.method === 'POST')
          variant(`header Idempotency-Key: ${h.name}`, `Idempotency-Key: ${describeValue(h.value)}`, {
            idempotencyKey: { raw: String(h.value) }
          })
      }
    }
    for (const p of op.parameters.filter((q) => q.in === 'header' && !OWN_HEADERS.has(q.name.toLowerCase()))) {
      for (const h of HOSTILE_HEADER)
        variant(`header ${p.name}: ${h.name}`, `${p.name}: ${describeValue(h.value)}`, {
          headers: [...base.headers.filter(([n]) => n !== p.name), [p.name, new Wire(String(h.value))]]
        })
    }
    for (const p of op.parameters.filter((q) => q.in === 'query')) {
      for (const h of HOSTILE_QUERY)
        variant(`query ${p.name}: ${h.name}`, `${p.name}=${describeValue(h.value)}`, {
          query: [...base.query.filter(([n]) => n !== p.name), [p.name, new Wire(String(h.value))]]
        })
      variant(`query ${p.name}: repeated`, `${p.name} twice`, {
        query: [...base.query, [p.name, new Wire('1')], [p.name, new Wire('2')]]
      })
      if (p.name !== 'cursor') continue
      for (const how of Object.keys(CURSOR_FORGERIES))
        variant(`query cursor: forged, ${how}`, `cursor = a real one, ${how}`, {
          query: [...base.query.filter(([n]) => n !== 'cursor'), ['cursor', new ForgedCursor(how)]]
        })
    }
    variant('query: prototype keys', '__proto__=1&constructor=1', {
      query: [...base.query, ['__proto__', new Wire('1')], ['constructor', new Wire('1')]]
    })
    for (const p of op.parameters.filter((q) => q.in === 'path')) {
      for (const h of hostileSegments(undefined))
        variant(`path ${p.name}: ${h.name}`, `{${p.name}} = ${describeValue(h.value)}`, {
          path: { ...base.path, [p.name]: new Wire(String(h.value)) }
        })
      for (const how of REAL_REWRITES)
        variant(`path ${p.name}: ${how}`, `{${p.name}} = the real ${p.name}, ${how}`, {
          path: { ...base.path, [p.name]: new SegmentOf(p.name, how) }
        })
    }
    return out
  }

  /**
   * A tame request with one part (a body field, the whole body, a query value
   * or a path segment) replaced by a value fast-check draws from anything:
   * binary strings, any integer or double, any JSON. Its class says where and what.
   */
  randomHostile(op: Operation, caller: fc.Arbitrary<Caller>): fc.Arbitrary<FuzzRequest> {
    return fc
      .tuple(this.valid(op, caller, true), fc.nat(), ANYTHING, fc.boolean())
      .map(([tame, pick, value, keyed]) => {
        const base = keyed && op.method === 'POST' ? { ...tame, idempotencyKey: 'fresh' as const } : tame
        const withKey = base.idempotencyKey ? ', with an Idempotency-Key' : ''
        const targets = [
          ...(op.body
            ? ['', ...fieldsOf(base.body)].map((p) => ({ where: 'body', name: p }))
            : op.method === 'GET'
              ? []
              : [{ where: 'body', name: '' }]),
          ...op.parameters
            .filter((p) => p.in === 'query' || p.in === 'path')
            .map((p) => ({ where: p.in, name: p.name }))
        ]
        const target = targets[pick % Math.max(targets.length, 1)]
        if (!target) return { ...base, inputClass: 'valid' }
        const what = classify(value)
        const hostile = `${target.where} ${target.name || '(whole)'} = ${describeValue(value)}`
        if (target.where === 'body')
          return {
            ...base,
            body: replaceAt(base.body, target.name, value),
            inputClass: `random body${target.name ? ' field' : ''}${withKey}: ${what}`,
            hostile
          }
        const text =
          typeof value === 'string'
            ? value
            : typeof value === 'number'
              ? String(value)
              : value instanceof RawJson
                ? value.text
                : toJsonText(value)
        const wire = new Wire(wireEncode(text))
        if (target.where === 'query')
          return {
            ...base,
            query: [...base.query.filter(([n]) => n !== target.name), [target.name, wire]],
            inputClass: `random query ${target.name}${withKey}: ${what}`,
            hostile
          }
        return {
          ...base,
          path: { ...base.path, [target.name]: wire },
          inputClass: `random path ${target.name}${withKey}: ${what}`,
          hostile
        }
      })
  }

  /** Half valid requests (boundaries, undeclared headers; classified by what is notable in them), half random hostile ones, by random callers. */
  random(op: Operation): fc.Arbitrary<FuzzRequest> {
    const caller = fc.constantFrom<Caller>(
      'partner',
      'partner',
      'partner',
      'partner',
      'otherPartner',
      'observer',
      ...CALLERS
    )
    const valid = this.valid(op, caller, false).map((r) => {
      const notable = featuresOf(r)
      return {
        ...r,
        inputClass: `valid${r.caller === 'partner' ? '' : `, caller: ${r.caller}`}${notable.length ? ` (${notable.join(', ')})` : ''}`
      }
    })
    return fc.oneof(valid, this.randomHostile(op, caller))
  }
}

/** Headers every write is tried with, declared or not (the fuzzer knows their real values: ETags, fresh or reused keys). */
const OWN_HEADERS = new Set(['if-match', 'idempotency-key'])

/** Hostile rewritings of a real path value (the real value is filled in when sent). */
const REAL_REWRITES = [
  'percent-encoded-letters',
  'upper-case',
  'real-with-nul',
  'real-with-suffix',
  'real-padded'
] as const

/** Anything at all, leaning on what breaks storage and parsers. */
const ANYTHING: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'binary-ascii', maxLength: 30 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...HOSTILE_VALUES.map((h) => h.value))
)

/** The class of a random value, for the report: what about it a server may mishandle. */
export function classify(value: unknown): string {
  if (value instanceof RawJson) return `raw JSON ${value.text.length > 40 ? 'nesting' : value.text}`
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'string with NUL'
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value))
      return 'string with a lone surrogate'
    if (/[\u0001-\u001f\u007f]/.test(value)) return 'string with control characters'
    if (value.length > 1000) return 'long string'
    return /[^\x20-\x7e]/.test(value) ? 'non-ASCII string' : 'string'
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return Number.isFinite(value) ? 'non-integer number' : 'non-finite number'
    return Math.abs(value) > 2 ** 31 - 1 ? 'integer beyond int32' : value < 0 ? 'negative integer' : 'integer'
  }
  if (Array.isArray(value)) return 'array'
  if (value !== null && typeof value === 'object') {
    const text = toJsonText(value)
    return text.includes('\\u0000')
      ? 'object holding a NUL'
      : /\\ud[89ab]/.test(text)
        ? 'object holding a lone surrogate'
        : 'object'
  }
  return value === null ? 'null' : typeof value
}

/** What is notable in a valid request: the boundary values where validation and storage tend to disagree. */
function featuresOf(r: FuzzRequest): string[] {
  const found = new Set<string>()
  const walk = (v: unknown, depth: number): void => {
    if (depth > 20 || v instanceof Real) return
    if (typeof v === 'number' && Math.abs(v) > 2 ** 31 - 1) found.add('integer beyond int32')
    if (typeof v === 'string' && v.length >= 1000) found.add('string of 1000+ characters')
    if (typeof v === 'string' && /[^\x00-\x7f]/.test(v)) found.add('non-ASCII text')
    if (Array.isArray(v)) {
      if (v.length >= 8) found.add('array at its largest')
      v.forEach((x) => walk(x, depth + 1))
    } else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => walk(x, depth + 1))
  }
  walk(r.body, 0)
  r.query.forEach(([, v]) => walk(v, 0))
  if (r.ifMatch === 'stale') found.add('stale If-Match')
  if (r.idempotencyKey === 'reused') found.add('reused Idempotency-Key')
  return [...found].sort()
}

/** `schema` with every property of every object required (resolving $refs), for full example bodies. */
function withEveryProperty(schema: Schema, resolve: (ref: string) => Schema): Schema {
  const walk = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(walk)
    if (s === null || typeof s !== 'object') return s
    const node = s as Schema
    if (node.$ref) return walk(resolve(node.$ref))
    const out = Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, ps]) => [p, walk(ps)])) : walk(v)
      ])
    )
    if (node.type === 'object' && node.properties) out.required = Object.keys(node.properties)
    // Prefer the richer alternative (an array over "all", a string over null) so that its inside is swept too.
    if (node.anyOf)
      out.anyOf = [...(out.anyOf as Schema[])]
        .sort((a, b) => JSON.stringify(b).length - JSON.stringify(a).length)
        .slice(0, 1)
    return out
  }
  return walk(schema) as Schema
}

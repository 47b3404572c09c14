import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import type { OpenApiDocument, Operation } from './contract.ts'
import { CURSOR_FORGERIES, describeValue, forgeCursor, HOSTILE_HEADER, HOSTILE_MEDIA, HOSTILE_QUERY, HOSTILE_VALUES, hostileSegments, RawJson, toJsonText } from './hostile.ts'
import { arbitraryOf, type Schema } from './schema-arbitrary.ts'
import { CALLERS, type Caller, type World } from './world.ts'

/**
 * Stands for a real value named `name` (a pid, a content hash…), looked up
 * when the request is sent: the request's `k` plus `offset`, modulo the pool.
 * Placeholders of one request share `k`, so `aid`, `n` and `contentHash`
 * point at the same version unless an offset says otherwise.
 */
export class Real {
  readonly name: string
  readonly offset: number
  constructor (name: string, offset: number) { this.name = name; this.offset = offset }
}

/** A real cursor of the request's list, forged (see CURSOR_FORGERIES) when the request is sent. */
export class ForgedCursor {
  readonly how: string
  constructor (how: string) { this.how = how }
}

/** A path segment or query value already percent-encoded, sent as is. */
export class Wire {
  readonly text: string
  constructor (text: string) { this.text = text }
}

type Value = unknown // JSON, with Real, Wire and RawJson leaves

/**
 * One generated request, before the world's ids are filled in. `inputClass`
 * names what was hostile about it (`valid`, `body /content/title: nul-in-string`,
 * `path n: int32-overflow`, `caller: stranger`…): the report groups by it.
 */
export interface FuzzRequest {
  op: Operation
  caller: Caller
  inputClass: string
  /** What exactly was substituted, for the report. */
  hostile?: string
  path: Record<string, Value>
  query: Array<[string, Value]>
  /** Header parameters the document declares (If-Match and Idempotency-Key have fields of their own). */
  headers: Array<[string, Value]>
  body?: Value
  media?: { contentType: string | undefined, payload: string }
  ifMatch?: 'etag' | 'stale' | '*' | { raw: string }
  idempotencyKey?: 'fresh' | 'reused' | { raw: string }
  /** Which real resources the placeholders point at (see Real). */
  k: number
}

/** Everything generation needs from the document and the world's names. */
export class RequestFactory {
  private readonly doc: OpenApiDocument
  private readonly realNames: ReadonlySet<string>

  constructor (doc: OpenApiDocument, realNames: Iterable<string>) {
    this.doc = doc
    this.realNames = new Set(realNames)
  }

  /** Valid values for `schema`, real ones mixed in (tame: only) for names the world knows. */
  valueOf (schema: Schema, name: string | undefined, options: { everyProperty?: boolean, tame?: boolean } = {}): fc.Arbitrary<Value> {
    const resolve = (ref: string): Schema => this.doc.components.schemas[ref.slice('#/components/schemas/'.length)]!
    const offset = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 7 }) })
    const hint = (n: string): fc.Arbitrary<unknown> | undefined => this.realNames.has(n) ? offset.map((i) => new Real(n, i)) : undefined
    return arbitraryOf(options.everyProperty ? withEveryProperty(schema, resolve) : schema, { resolve, hint, tame: options.tame === true }, name)
  }

  /**
   * A request valid against the document (path, query and body) sent by
   * `caller`. Tame requests (the base of every hostile variant) carry only
   * required query parameters, `If-Match: *` on writes and no Idempotency-Key;
   * others draw boundaries, undeclared headers and reused keys too.
   */
  valid (op: Operation, caller: fc.Arbitrary<Caller>, tame: boolean): fc.Arbitrary<FuzzRequest> {
    const pathParams = op.parameters.filter((p) => p.in === 'path')
    const queryParams = op.parameters.filter((p) => p.in === 'query' && (p.required || !tame))
    // A path segment is never empty (the document allows "" for `code`, which would be GET /problems, another operation).
    const path = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, this.valueOf({ minLength: 1, ...p.schema }, p.name, { tame })])))
    const query = fc.tuple(...queryParams.map((p) => p.required
      ? this.valueOf(p.schema, p.name, { tame }).map((v) => [[p.name, v]] as Array<[string, Value]>)
      : fc.option(this.valueOf(p.schema, p.name), { freq: 2 }).map((v) => v === null ? [] : [[p.name, v]] as Array<[string, Value]>)))
      .map((pairs) => pairs.flat())
    const headerParams = op.parameters.filter((p) => p.in === 'header' && !OWN_HEADERS.has(p.name.toLowerCase()) && (p.required || !tame))
    const headers = fc.tuple(...headerParams.map((p) => p.required
      ? this.valueOf(p.schema, p.name, { tame }).map((v) => [[p.name, v]] as Array<[string, Value]>)
      : fc.option(this.valueOf(p.schema, p.name), { freq: 2 }).map((v) => v === null ? [] : [[p.name, v]] as Array<[string, Value]>)))
      .map((pairs) => pairs.flat())
    const body = op.body ? this.valueOf(op.body, undefined, { tame }) : fc.constant(undefined)
    const writes = op.method !== 'GET'
    const ifMatchRequired = op.parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === 'if-match' && p.required)
    const ifMatch = !writes ? fc.constant(undefined) : tame ? fc.constant<FuzzRequest['ifMatch']>('*') : fc.constantFrom<FuzzRequest['ifMatch']>(...(ifMatchRequired ? [] : [undefined]), '*', '*', 'etag', 'etag', 'stale')
    const idempotencyKey = op.method !== 'POST' || tame ? fc.constant(undefined) : fc.constantFrom<FuzzRequest['idempotencyKey']>(undefined, undefined, undefined, 'fresh', 'reused')
    return fc.record({ caller, path, query, headers, body, ifMatch, idempotencyKey, k: fc.nat({ max: 1000 }) })
      .map((r) => ({ op, inputClass: 'valid', ...r, body: r.body }))
  }

  /** A tame valid body with every optional property present, so that every field can be replaced in turn. */
  fullBody (op: Operation): fc.Arbitrary<Value> {
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
  sweep (base: FuzzRequest, bodies: Value[]): FuzzRequest[] {
    const out: FuzzRequest[] = []
    const op = base.op
    const variant = (inputClass: string, hostile: string, change: Partial<FuzzRequest>): void => { out.push({ ...base, inputClass, hostile, ...change }) }
    if (op.body) {
      // Value by value (NUL in every field, then lone surrogates…): the values that change nothing come before those a server may accept.
      const fields = new Map<string, Value>()
      for (const body of bodies) for (const pointer of fieldsOf(body)) if (!fields.has(pointer)) fields.set(pointer, body)
      for (const h of HOSTILE_VALUES) {
        for (const [pointer, body] of fields) variant(`body field: ${h.name}`, `${pointer} = ${describeValue(h.value)}`, { body: replaceAt(body, pointer, h.value) })
      }
      // Real, but not the one that belongs: another version's content hash, another invitation's token.
      for (const [pointer, body] of fields) {
        const value = valueAt(body, pointer)
        if (value instanceof Real) variant('body field: another real value', `${pointer} = another real ${value.name}`, { body: replaceAt(body, pointer, new Real(value.name, value.offset + 1)) })
      }
      // The idempotency layer fingerprints the whole body after validation: one field stands for all.
      const [first] = fields
      if (op.method === 'POST' && first) {
        for (const h of HOSTILE_VALUES) variant(`body field, with an Idempotency-Key: ${h.name}`, `${first[0]} = ${describeValue(h.value)}`, { body: replaceAt(first[1], first[0], h.value), idempotencyKey: 'fresh' })
      }
      for (const key of ['__proto__', 'constructor', 'unknownField']) {
        const extra = typeof base.body === 'object' && base.body !== null ? { ...base.body, [key]: key === 'unknownField' ? 1 : { polluted: true } } : base.body
        variant(`body extra key: ${key}`, `extra key ${key}`, { body: extra })
      }
    }
    if (op.method !== 'GET') {
      const whole = op.body ? 'whole body' : 'body on a route without one'
      for (const h of HOSTILE_VALUES) variant(`${whole}: ${h.name}`, `body = ${describeValue(h.value)}`, { body: h.value })
      // The idempotency layer reads every body (its fingerprint) before any route does.
      if (op.method === 'POST') for (const h of HOSTILE_VALUES) variant(`${whole}, with an Idempotency-Key: ${h.name}`, `body = ${describeValue(h.value)}`, { body: h.value, idempotencyKey: 'fresh' })
      for (const m of HOSTILE_MEDIA) variant(`media: ${m.name}`, `Content-Type: ${m.contentType ?? '(none)'}, payload ${JSON.stringify(m.payload)}`, { media: m, body: undefined })
      for (const h of HOSTILE_HEADER) {
        variant(`header If-Match: ${h.name}`, `If-Match: ${describeValue(h.value)}`, { ifMatch: { raw: String(h.value) } })
        if (op.method === 'POST') variant(`header Idempotency-Key: ${h.name}`, `Idempotency-Key: ${describeValue(h.value)}`, { idempotencyKey: { raw: String(h.value) } })
      }
    }
    for (const p of op.parameters.filter((q) => q.in === 'header' && !OWN_HEADERS.has(q.name.toLowerCase()))) {
      for (const h of HOSTILE_HEADER) variant(`header ${p.name}: ${h.name}`, `${p.name}: ${describeValue(h.value)}`, { headers: [...base.headers.filter(([n]) => n !== p.name), [p.name, new Wire(String(h.value))]] })
    }
    for (const p of op.parameters.filter((q) => q.in === 'query')) {
      for (const h of HOSTILE_QUERY) variant(`query ${p.name}: ${h.name}`, `${p.name}=${describeValue(h.value)}`, { query: [...base.query.filter(([n]) => n !== p.name), [p.name, new Wire(String(h.value))]] })
      variant(`query ${p.name}: repeated`, `${p.name} twice`, { query: [...base.query, [p.name, new Wire('1')], [p.name, new Wire('2')]] })
      if (p.name !== 'cursor') continue
      for (const how of Object.keys(CURSOR_FORGERIES)) variant(`query cursor: forged, ${how}`, `cursor = a real one, ${how}`, { query: [...base.query.filter(([n]) => n !== 'cursor'), ['cursor', new ForgedCursor(how)]] })
    }
    variant('query: prototype keys', '__proto__=1&constructor=1', { query: [...base.query, ['__proto__', new Wire('1')], ['constructor', new Wire('1')]] })
    for (const p of op.parameters.filter((q) => q.in === 'path')) {
      for (const h of hostileSegments(undefined)) variant(`path ${p.name}: ${h.name}`, `{${p.name}} = ${describeValue(h.value)}`, { path: { ...base.path, [p.name]: new Wire(String(h.value)) } })
      for (const how of REAL_REWRITES) variant(`path ${p.name}: ${how}`, `{${p.name}} = the real ${p.name}, ${how}`, { path: { ...base.path, [p.name]: new SegmentOf(p.name, how) } })
    }
    return out
  }

  /**
   * A tame request with one part (a body field, the whole body, a query value
   * or a path segment) replaced by a value fast-check draws from anything:
   * binary strings, any integer or double, any JSON. Its class says where and what.
   */
  randomHostile (op: Operation, caller: fc.Arbitrary<Caller>): fc.Arbitrary<FuzzRequest> {
    return fc.tuple(this.valid(op, caller, true), fc.nat(), ANYTHING, fc.boolean()).map(([tame, pick, value, keyed]) => {
      const base = keyed && op.method === 'POST' ? { ...tame, idempotencyKey: 'fresh' as const } : tame
      const withKey = base.idempotencyKey ? ', with an Idempotency-Key' : ''
      const targets = [
        ...(op.body ? ['', ...fieldsOf(base.body)].map((p) => ({ where: 'body', name: p })) : op.method === 'GET' ? [] : [{ where: 'body', name: '' }]),
        ...op.parameters.filter((p) => p.in === 'query' || p.in === 'path').map((p) => ({ where: p.in, name: p.name }))
      ]
      const target = targets[pick % Math.max(targets.length, 1)]
      if (!target) return { ...base, inputClass: 'valid' }
      const what = classify(value)
      const hostile = `${target.where} ${target.name || '(whole)'} = ${describeValue(value)}`
      if (target.where === 'body') return { ...base, body: replaceAt(base.body, target.name, value), inputClass: `random body${target.name ? ' field' : ''}${withKey}: ${what}`, hostile }
      const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : value instanceof RawJson ? value.text : toJsonText(value)
      const wire = new Wire(wireEncode(text))
      if (target.where === 'query') return { ...base, query: [...base.query.filter(([n]) => n !== target.name), [target.name, wire]], inputClass: `random query ${target.name}${withKey}: ${what}`, hostile }
      return { ...base, path: { ...base.path, [target.name]: wire }, inputClass: `random path ${target.name}${withKey}: ${what}`, hostile }
    })
  }

  /** Half valid requests (boundaries, undeclared headers; classified by what is notable in them), half random hostile ones, by random callers. */
  random (op: Operation): fc.Arbitrary<FuzzRequest> {
    const caller = fc.constantFrom<Caller>('partner', 'partner', 'partner', 'partner', 'otherPartner', 'observer', ...CALLERS)
    const valid = this.valid(op, caller, false).map((r) => {
      const notable = featuresOf(r)
      return { ...r, inputClass: `valid${r.caller === 'partner' ? '' : `, caller: ${r.caller}`}${notable.length ? ` (${notable.join(', ')})` : ''}` }
    })
    return fc.oneof(valid, this.randomHostile(op, caller))
  }
}

/** Headers every write is tried with, declared or not (the fuzzer knows their real values: ETags, fresh or reused keys). */
const OWN_HEADERS = new Set(['if-match', 'idempotency-key'])

/** Hostile rewritings of a real path value (the real value is filled in when sent). */
const REAL_REWRITES = ['percent-encoded-letters', 'upper-case', 'real-with-nul', 'real-with-suffix', 'real-padded'] as const

/** A hostile rewriting of the real value of a path parameter, applied when the request is sent. */
export class SegmentOf {
  readonly name: string
  readonly how: string
  constructor (name: string, how: string) { this.name = name; this.how = how }
  apply (real: string): string {
    const found = hostileSegments(real).find((h) => h.name === this.how)
    return String(found?.value ?? real)
  }
}

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
export function classify (value: unknown): string {
  if (value instanceof RawJson) return `raw JSON ${value.text.length > 40 ? 'nesting' : value.text}`
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'string with NUL'
    if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) return 'string with a lone surrogate'
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
    return text.includes('\\u0000') ? 'object holding a NUL' : /\\ud[89ab]/.test(text) ? 'object holding a lone surrogate' : 'object'
  }
  return value === null ? 'null' : typeof value
}

/** What is notable in a valid request: the boundary values where validation and storage tend to disagree. */
function featuresOf (r: FuzzRequest): string[] {
  const found = new Set<string>()
  const walk = (v: unknown, depth: number): void => {
    if (depth > 20 || v instanceof Real) return
    if (typeof v === 'number' && Math.abs(v) > 2 ** 31 - 1) found.add('integer beyond int32')
    if (typeof v === 'string' && v.length >= 1000) found.add('string of 1000+ characters')
    if (typeof v === 'string' && /[^\x00-\x7f]/.test(v)) found.add('non-ASCII text')
    if (Array.isArray(v)) { if (v.length >= 8) found.add('array at its largest'); v.forEach((x) => walk(x, depth + 1)) } else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => walk(x, depth + 1))
  }
  walk(r.body, 0)
  r.query.forEach(([, v]) => walk(v, 0))
  if (r.ifMatch === 'stale') found.add('stale If-Match')
  if (r.idempotencyKey === 'reused') found.add('reused Idempotency-Key')
  return [...found].sort()
}

/** Percent-encodes any JS string, lone surrogates included (as the WTF-8 bytes a sloppy client would send). */
export function wireEncode (s: string): string {
  let out = ''
  for (const ch of s) {
    const code = ch.codePointAt(0)!
    out += code >= 0xd800 && code <= 0xdfff
      ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
      : encodeURIComponent(ch)
  }
  return out
}

/** JSON pointers of every property and first array element in `value`, depth first. */
export function fieldsOf (value: Value, pointer = ''): string[] {
  if (value === null || typeof value !== 'object' || value instanceof Real || value instanceof RawJson) return []
  const entries: Array<[string, unknown]> = Array.isArray(value) ? (value.length > 0 ? [['0', value[0]]] : []) : Object.entries(value)
  return entries.flatMap(([k, v]) => {
    const here = `${pointer}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`
    return [here, ...fieldsOf(v, here)]
  })
}

/** The value at a JSON pointer of `value`. */
function valueAt (value: Value, pointer: string): Value {
  return pointer.slice(1).split('/').reduce<Value>((v, key) => (v as Record<string, Value>)[key.replaceAll('~1', '/').replaceAll('~0', '~')], value)
}

/** A copy of `value` with the field at `pointer` replaced (own `__proto__` keys stay own properties). */
export function replaceAt (value: Value, pointer: string, replacement: unknown): Value {
  if (pointer === '') return replacement
  const [head, ...rest] = pointer.slice(1).split('/')
  const key = head!.replaceAll('~1', '/').replaceAll('~0', '~')
  const inner = replaceAt((value as Record<string, unknown>)[key], rest.length ? `/${rest.join('/')}` : '', replacement)
  if (Array.isArray(value)) return value.map((v, i) => String(i) === key ? inner : v)
  return { ...(value as object), [key]: inner }
}

/** `schema` with every property of every object required (resolving $refs), for full example bodies. */
function withEveryProperty (schema: Schema, resolve: (ref: string) => Schema): Schema {
  const walk = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(walk)
    if (s === null || typeof s !== 'object') return s
    const node = s as Schema
    if (node.$ref) return walk(resolve(node.$ref))
    const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, ps]) => [p, walk(ps)])) : walk(v)]))
    if (node.type === 'object' && node.properties) out.required = Object.keys(node.properties)
    // Prefer the richer alternative (an array over "all", a string over null) so that its inside is swept too.
    if (node.anyOf) out.anyOf = [...(out.anyOf as Schema[])].sort((a, b) => JSON.stringify(b).length - JSON.stringify(a).length).slice(0, 1)
    return out
  }
  return walk(schema) as Schema
}

/** What light-my-request is given, and how the report prints it. */
export interface Resolved {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
  /** `METHOD url`, headers and body as a copy-pasteable summary. */
  printable: string
}

/** Fills the world's real values into `req` and encodes it for app.inject. */
export function resolveRequest (req: FuzzRequest, world: World, etag: string | undefined): Resolved {
  // Cursors are per list: a cursor is looked up among those the same operation handed out.
  const poolOf = (name: string): unknown[] => world.real[name === 'cursor' ? `cursor ${req.op.path}` : name] ?? []
  const real = (r: Real): unknown => {
    const pool = poolOf(r.name)
    return pool.length === 0 ? undefined : pool[(req.k + r.offset) % pool.length]
  }
  // Placeholders sit in the valid part of a body, never deep inside a hostile value (a 5,000-level array is not walked).
  const fill = (v: Value, depth = 0): unknown => {
    if (v instanceof Real) return real(v)
    if (v instanceof RawJson || v === null || typeof v !== 'object' || depth > 20) return v
    if (Array.isArray(v)) return v.map((x) => fill(x, depth + 1))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, depth + 1)]))
  }
  const encoded = (name: string, v: Value): string => {
    if (v instanceof Wire) return v.text
    if (v instanceof SegmentOf) return v.apply(String(real(new Real(name, 0)) ?? ''))
    return encodeURIComponent(String(fill(v)))
  }
  // inject resolves the URL like a browser: "", "." and ".." (even as %2E) would name another route, so they get a suffix.
  const segment = (name: string, v: Value): string => {
    const text = encoded(name, v)
    return /^(\.|%2e){0,2}$/i.test(text) ? `${text}x` : text
  }
  const path = req.op.path.replace(/\{(\w+)\}/g, (_m, name: string) => segment(name, req.path[name]))
  const query = req.query.flatMap(([k, v]) => {
    if (v instanceof ForgedCursor) return [`${k}=${forgeCursor(real(new Real('cursor', 0)) as string | undefined, CURSOR_FORGERIES[v.how]!)}`]
    const text = v instanceof Wire ? v.text : fill(v) === undefined ? undefined : encodeURIComponent(String(fill(v)))
    return text === undefined ? [] : [`${encodeURIComponent(k)}=${text}`]
  })
  const url = query.length ? `${path}?${query.join('&')}` : path
  const headers: Record<string, string> = {}
  for (const [name, v] of req.headers) {
    const value = v instanceof Wire ? v.text : fill(v)
    if (value !== undefined) headers[name.toLowerCase()] = String(value)
  }
  const authorization = world.authorization[req.caller]
  if (authorization) headers.authorization = authorization
  if (req.ifMatch === '*') headers['if-match'] = '*'
  else if (req.ifMatch === 'stale') headers['if-match'] = '"v999999"'
  else if (req.ifMatch === 'etag' && etag) headers['if-match'] = etag
  else if (typeof req.ifMatch === 'object') headers['if-match'] = req.ifMatch.raw
  if (req.idempotencyKey === 'fresh') headers['idempotency-key'] = randomUUID()
  else if (req.idempotencyKey === 'reused') headers['idempotency-key'] = 'fuzz-reused-key'
  else if (typeof req.idempotencyKey === 'object') headers['idempotency-key'] = req.idempotencyKey.raw
  let payload: string | undefined
  if (req.media) {
    payload = req.media.payload
    if (req.media.contentType) headers['content-type'] = req.media.contentType
  } else if (req.body !== undefined) {
    payload = toJsonText(fill(req.body))
    headers['content-type'] = 'application/json'
  }
  const shownHeaders = Object.entries(headers).map(([k, v]) => `${k}: ${k === 'authorization' ? `<${req.caller}>` : v.length > 80 ? `${v.slice(0, 20)}… (${v.length} chars)` : v}`)
  const shownUrl = url.length > 300 ? `${url.slice(0, 120)}… (${url.length} chars)` : url
  const shownBody = payload === undefined ? '' : ` ${payload.length > 300 ? `${payload.slice(0, 150)}… (${payload.length} chars)` : payload}`
  return { method: req.op.method, url, headers, payload, printable: `${req.op.method} ${shownUrl} [${shownHeaders.join('; ')}]${shownBody}` }
}

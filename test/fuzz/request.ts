import { randomUUID } from 'node:crypto'
import type { Operation } from './contract.ts'
import { CURSOR_FORGERIES, forgeCursor, hostileSegments, RawJson, toJsonText } from './hostile.ts'
import type { Caller, World } from './world.ts'

/**
 * Stands for a real value named `name` (a pid, a content hash…), looked up
 * when the request is sent: the request's `k` plus `offset`, modulo the pool.
 * Placeholders of one request share `k`, so `aid`, `n` and `contentHash`
 * point at the same version unless an offset says otherwise.
 */
export class Real {
  readonly name: string
  readonly offset: number
  constructor(name: string, offset: number) {
    this.name = name
    this.offset = offset
  }
}

/** A real cursor of the request's list, forged (see CURSOR_FORGERIES) when the request is sent. */
export class ForgedCursor {
  readonly how: string
  constructor(how: string) {
    this.how = how
  }
}

/** A path segment or query value already percent-encoded, sent as is. */
export class Wire {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

export type Value = unknown // JSON, with Real, Wire and RawJson leaves

/**
 * One generated request, before the world's ids are filled in. `inputClass`
 * names what was hostile about it (`body field: nul-in-string`, `path n:
 * int32-overflow`, `valid, caller: stranger`…): the report groups by it.
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
  media?: { contentType: string | undefined; payload: string }
  ifMatch?: 'etag' | 'stale' | '*' | { raw: string }
  idempotencyKey?: 'fresh' | 'reused' | { raw: string }
  /** Which real resources the placeholders point at (see Real). */
  k: number
}

/** A hostile rewriting of the real value of a path parameter, applied when the request is sent. */
export class SegmentOf {
  readonly name: string
  readonly how: string
  constructor(name: string, how: string) {
    this.name = name
    this.how = how
  }
  apply(real: string): string {
    const found = hostileSegments(real).find((h) => h.name === this.how)
    return String(found?.value ?? real)
  }
}

/** Percent-encodes any JS string, lone surrogates included (as the WTF-8 bytes a sloppy client would send). */
export function wireEncode(s: string): string {
  let out = ''
  for (const ch of s) {
    const code = ch.codePointAt(0)!
    out +=
      code >= 0xd800 && code <= 0xdfff
        ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
            .map((b) => `%${b.toString(16).toUpperCase()}`)
            .join('')
        : encodeURIComponent(ch)
  }
  return out
}

/** JSON pointers of every property and first array element in `value`, depth first. */
export function fieldsOf(value: Value, pointer = ''): string[] {
  if (value === null || typeof value !== 'object' || value instanceof Real || value instanceof RawJson) return []
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.length > 0
      ? [['0', value[0]]]
      : []
    : Object.entries(value)
  return entries.flatMap(([k, v]) => {
    const here = `${pointer}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`
    return [here, ...fieldsOf(v, here)]
  })
}

/** The value at a JSON pointer of `value`. */
export function valueAt(value: Value, pointer: string): Value {
  return pointer
    .slice(1)
    .split('/')
    .reduce<Value>((v, key) => (v as Record<string, Value>)[key.replaceAll('~1', '/').replaceAll('~0', '~')], value)
}

/** A copy of `value` with the field at `pointer` replaced (own `__proto__` keys stay own properties). */
export function replaceAt(value: Value, pointer: string, replacement: unknown): Value {
  if (pointer === '') return replacement
  const [head, ...rest] = pointer.slice(1).split('/')
  const key = head!.replaceAll('~1', '/').replaceAll('~0', '~')
  const inner = replaceAt((value as Record<string, unknown>)[key], rest.length ? `/${rest.join('/')}` : '', replacement)
  if (Array.isArray(value)) return value.map((v, i) => (String(i) === key ? inner : v))
  return { ...(value as object), [key]: inner }
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
export function resolveRequest(req: FuzzRequest, world: World, etag: string | undefined): Resolved {
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
    if (v instanceof ForgedCursor)
      return [`${k}=${forgeCursor(real(new Real('cursor', 0)) as string | undefined, CURSOR_FORGERIES[v.how]!)}`]
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
  const shownHeaders = Object.entries(headers).map(
    ([k, v]) =>
      `${k}: ${k === 'authorization' ? `<${req.caller}>` : v.length > 80 ? `${v.slice(0, 20)}… (${v.length} chars)` : v}`
  )
  const shownUrl = url.length > 300 ? `${url.slice(0, 120)}… (${url.length} chars)` : url
  const shownBody =
    payload === undefined
      ? ''
      : ` ${payload.length > 300 ? `${payload.slice(0, 150)}… (${payload.length} chars)` : payload}`
  return {
    method: req.op.method,
    url,
    headers,
    payload,
    printable: `${req.op.method} ${shownUrl} [${shownHeaders.join('; ')}]${shownBody}`
  }
}

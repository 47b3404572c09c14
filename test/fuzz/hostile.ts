/**
 * The hostile inputs the fuzzer substitutes for valid ones, each with a name
 * that becomes the "class of input" in the report. They are the inputs that
 * broke real APIs: bytes PostgreSQL refuses in text (NUL, lone surrogates),
 * numbers beyond what a column or a double holds, nesting that exhausts a
 * recursive walker, prototype keys, wrong types.
 */

/** A JSON number or literal sent exactly as written (JSON.stringify would round 2^53+1 or refuse 1e309). */
export class RawJson {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/** Nesting as JSON text: V8's JSON.stringify overflows its stack long before 5,000 levels, JSON.parse does not. */
const nested = (depth: number, open: string, close: string): RawJson =>
  new RawJson(`${open.repeat(depth)}0${close.repeat(depth)}`)

export interface Hostile {
  name: string
  value: unknown
}

/** Values put in place of one body field (or of the whole body). */
export const HOSTILE_VALUES: readonly Hostile[] = [
  { name: 'nul-in-string', value: 'a\u0000b' },
  { name: 'lone-surrogate', value: 'a\ud800b' },
  { name: 'int32-overflow', value: 2 ** 31 },
  { name: 'beyond-safe-integer', value: new RawJson('9007199254740993') },
  { name: 'negative', value: -1 },
  { name: 'zero', value: 0 },
  { name: 'fraction', value: 1.5 },
  { name: 'huge-double', value: 1e308 },
  { name: 'overflowing-number', value: new RawJson('1e309') },
  { name: 'deep-array', value: nested(5000, '[', ']') },
  { name: 'deep-object', value: nested(5000, '{"a":', '}') },
  // As deep as fits under the 64 KiB body limit.
  { name: 'deep-array-30000', value: nested(30_000, '[', ']') },
  { name: 'deep-object-12000', value: nested(12_000, '{"":', '}') },
  { name: 'string-100k', value: 'a'.repeat(100_000) },
  { name: 'string-60k', value: 'a'.repeat(60_000) },
  { name: 'empty-string', value: '' },
  { name: 'null', value: null },
  { name: 'boolean', value: true },
  { name: 'number-as-string', value: '1' },
  { name: 'empty-array', value: [] },
  { name: 'empty-object', value: {} },
  { name: 'proto-key', value: JSON.parse('{"__proto__":{"polluted":true}}') },
  { name: 'constructor-key', value: { constructor: { prototype: { polluted: true } } } },
  { name: 'unicode', value: '\u202eüñí中👍🏽\u200d' }
]

/** Wire-level query values (already percent-encoded where they must be). */
export const HOSTILE_QUERY: readonly Hostile[] = [
  { name: 'nul', value: '%00' },
  { name: 'nul-in-string', value: 'a%00b' },
  { name: 'lone-surrogate', value: '%ED%A0%80' },
  { name: 'int32-overflow', value: '2147483648' },
  { name: 'beyond-safe-integer', value: '9007199254740993' },
  { name: 'negative', value: '-1' },
  { name: 'zero', value: '0' },
  { name: 'fraction', value: '1.5' },
  { name: 'huge-double', value: '1e308' },
  { name: 'overflowing-number', value: '1e309' },
  { name: 'nan', value: 'NaN' },
  { name: 'infinity', value: 'Infinity' },
  { name: 'hex', value: '0x10' },
  { name: 'padded', value: '%201%20' },
  { name: 'empty-string', value: '' },
  { name: 'string-100k', value: 'a'.repeat(100_000) },
  { name: 'json-array', value: '%5B%5D' },
  { name: 'proto', value: '__proto__' },
  { name: 'malformed-escape', value: '%zz' },
  { name: 'unicode', value: encodeURIComponent('üñí中👍🏽') }
]

/** Wire-level path segments; `real` is the real id the segment stands for (or undefined). */
export function hostileSegments(real: string | undefined): Hostile[] {
  const segments: Hostile[] = [
    { name: 'not-a-uuid', value: 'not-a-uuid' },
    { name: 'nul', value: '%00' },
    { name: 'lone-surrogate', value: '%ED%A0%80' },
    { name: 'overlong-utf8', value: '%C0%AE' },
    { name: 'malformed-escape', value: '%zz' },
    { name: 'very-long', value: 'a'.repeat(5000) },
    { name: 'long-199', value: 'a'.repeat(199) },
    { name: 'encoded-slash', value: '%2F' },
    { name: 'int32-overflow', value: '2147483648' },
    { name: 'beyond-safe-integer', value: '9007199254740993' },
    { name: 'huge-number', value: '99999999999999999999999999' },
    { name: 'huge-double', value: '1e308' },
    { name: 'negative', value: '-1' },
    { name: 'zero', value: '0' },
    { name: 'fraction', value: '1.5' },
    { name: 'exponent', value: '1e2' },
    { name: 'nil-uuid', value: '00000000-0000-0000-0000-000000000000' },
    { name: 'max-uuid', value: 'ffffffff-ffff-ffff-ffff-ffffffffffff' },
    { name: 'space', value: '%20' }
  ]
  if (real !== undefined) {
    segments.push(
      {
        name: 'percent-encoded-letters',
        value: [...real].map((c) => (/[a-z]/i.test(c) ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : c)).join('')
      },
      { name: 'upper-case', value: real.toUpperCase() },
      { name: 'real-with-nul', value: `${real}%00` },
      { name: 'real-with-suffix', value: `${real}x` },
      { name: 'real-padded', value: `%20${real}` }
    )
  }
  return segments
}

/** Header values that are legal on the wire (inject refuses control characters) but hostile. */
export const HOSTILE_HEADER: readonly Hostile[] = [
  { name: 'empty', value: '' },
  { name: 'blank', value: '   ' },
  { name: 'int32-overflow-etag', value: '"v2147483648"' },
  { name: 'beyond-safe-integer-etag', value: '"v9007199254740993"' },
  { name: 'weak-etag', value: 'W/"v1"' },
  { name: 'etag-list', value: '"v1", "v2", *' },
  { name: 'latin1', value: '\u00e9t\u00e9' },
  { name: 'long-8k', value: 'k'.repeat(8192) },
  { name: 'proto', value: '__proto__' }
]

/** Bodies that are not the JSON the route reads: another media type, broken JSON, JSON of another charset. */
export const HOSTILE_MEDIA: ReadonlyArray<{ name: string; contentType: string | undefined; payload: string }> = [
  { name: 'text-plain', contentType: 'text/plain', payload: '{}' },
  { name: 'form-urlencoded', contentType: 'application/x-www-form-urlencoded', payload: 'a=1' },
  { name: 'no-content-type', contentType: undefined, payload: '{}' },
  { name: 'broken-json', contentType: 'application/json', payload: '{"a":' },
  { name: 'empty-json', contentType: 'application/json', payload: '' },
  { name: 'json-utf16', contentType: 'application/json; charset=utf-16', payload: '{}' },
  { name: 'json-suffix', contentType: 'application/vnd.api+json', payload: '{}' },
  { name: 'duplicate-keys', contentType: 'application/json', payload: '{"a":1,"a":2}' },
  { name: 'bom', contentType: 'application/json', payload: '\ufeff{}' }
]

/** JSON text of `value`, with every RawJson written as is. */
export function toJsonText(value: unknown): string {
  const raws: string[] = []
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text)
      return `\u0001raw${raws.length - 1}\u0001`
    }
    return v
  })
  return raws.length === 0 ? text : text.replace(/"\\u0001raw(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]!)
}

/** A short, faithful description of a value for the report (a 5,000-deep array is not printed). */
export function describeValue(value: unknown): string {
  if (value instanceof RawJson)
    return value.text.length > 80 ? `${value.text.slice(0, 20)}… (${value.text.length} chars of JSON)` : value.text
  if (typeof value === 'string')
    return value.length > 80 ? `"${value.slice(0, 20)}…" (${value.length} chars)` : JSON.stringify(value)
  const text = toJsonText(value)
  return text === undefined
    ? String(value)
    : text.length > 200
      ? `${text.slice(0, 60)}… (${text.length} chars of JSON)`
      : text
}

/**
 * Ways to forge a cursor: cursors are opaque to clients but, here, base64url
 * JSON; a client can decode one, change it and send it back. Each rewrites
 * every leaf of a real cursor of the same list.
 */
export const CURSOR_FORGERIES: Readonly<Record<string, (leaf: unknown) => unknown>> = {
  'int32-overflow': (v) => (typeof v === 'number' ? 2 ** 31 : v),
  'beyond-safe-integer': (v) => (typeof v === 'number' ? new RawJson('9007199254740993') : v),
  negative: (v) => (typeof v === 'number' ? -1 : v),
  fraction: (v) => (typeof v === 'number' ? 1.5 : v),
  'nul-in-string': (v) => (typeof v === 'string' ? `${v}\u0000` : v),
  'lone-surrogate': (v) => (typeof v === 'string' ? `${v}\ud800` : v),
  'not-a-uuid': (v) => (typeof v === 'string' ? 'not-a-uuid' : v),
  'wrong-type': (v) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? 1 : v),
  'null-leaves': () => null
}

/** A real cursor with every leaf rewritten by `forge`. (No real cursor yet: a bare forged leaf.) */
export function forgeCursor(real: string | undefined, forge: (leaf: unknown) => unknown): string {
  const decoded: unknown = real === undefined ? 1 : JSON.parse(Buffer.from(real, 'base64url').toString('utf8'))
  const rewrite = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(rewrite)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]))
        : forge(v)
  return Buffer.from(toJsonText(rewrite(decoded))).toString('base64url')
}

import { z } from 'zod'

/** RFC 9457 problem details, as every error of the API is sent. */
export const ProblemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().meta({ description: 'Stable machine-readable code, kebab-case (e.g. `content-hash-mismatch`).' }),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ in: z.string().optional(), path: z.string(), message: z.string() })).optional()
  })
  .meta({
    id: 'Problem',
    description:
      'RFC 9457 problem details; a problem may carry extension members of its own (e.g. `contentHash`, `reviewId`)'
  })

/** The error responses a route may give, each as problem+json in the OpenAPI document. */
export function problems(
  ...statuses: number[]
): Record<number, { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }> {
  const out: Record<
    number,
    { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }
  > = {}
  for (const s of statuses)
    out[s] = { description: describe[s] ?? 'Error', content: { 'application/problem+json': { schema: ProblemSchema } } }
  return out
}
const describe: Record<number, string> = {
  400: 'Invalid request',
  401: 'Missing or invalid token',
  403: 'Role or scope missing',
  404: 'Not found (or not yours)',
  406: 'None of the accepted media types can be given',
  409: 'State conflict',
  410: 'Gone',
  412: 'Stale If-Match',
  413: 'Body too large',
  415: 'Body is not JSON',
  422: 'Idempotency key reused with another body',
  428: 'If-Match required',
  429: 'Rate limited',
  503: 'Unavailable; retry later'
}

/** `Idempotency-Key`: 1–255 visible ASCII characters (a UUID is a good choice). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
export const IdempotencyKeyHeaders = {
  'idempotency-key': z.string().regex(IDEMPOTENCY_KEY).optional().meta({
    description:
      'Makes the POST safe to retry: the same key and body within 24 h answer what the first answered, without doing the work again (another body: 422; while the first runs: 409)'
  })
}
/** The header of a change that needs the ETag the client last read (the server answers 428 without it, 412 when stale). */
export const IfMatchHeaders = z.looseObject({
  'if-match': z.string().max(1000).optional().meta({
    description:
      'Required: the ETag you last read (`"v3"`), or `*`. Without it the change is refused with 428, with a stale one 412'
  })
})

/** PostgreSQL's `integer`: every integer a request carries into a query fits it, or the request is a 400, not a 500. */
export const INT4_MAX = 2_147_483_647
/** An integer in a JSON body (or a cursor) that a query will compare with an `integer` column. */
export const pgInt = (min = 0) => z.int().min(min).max(INT4_MAX)
/** The same for a query string or path parameter (text, coerced). */
export const pgIntParam = (min = 0) => z.coerce.number().int().min(min).max(INT4_MAX)

/** An IANA time zone name (e.g. `Europe/Paris`), validated against the runtime's tz database and canonicalised. */
export const TimezoneSchema = z
  .string()
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'must be an IANA time zone such as Europe/Paris')
  .transform((tz, ctx) => {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
    } catch {
      ctx.addIssue({ code: 'custom', message: `unknown time zone "${tz}"` })
      return z.NEVER
    }
  })
  .meta({ description: 'IANA time zone name', examples: ['Europe/Paris'] })

export const DateTimeSchema = z.iso.datetime({ offset: false }).meta({ description: 'RFC 3339 UTC timestamp' })
export const isoOrNull = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null)

/** The usual error responses of an authenticated route, to spread into `response`. */
export const authProblems = problems(400, 401, 403, 404, 429, 503)

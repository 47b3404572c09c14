import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'

// Every assertion about an RFC 9457 answer, in one place: a test says which problem it expects, not how to check one.

/** An RFC 9457 problem as the API writes it. */
export type Problem = {
  status: number
  code: string
  title: string
  detail: string
  type: string
  errors?: Array<{ path: string; message: string }>
}

/** The problem+json body of an answer; throws (naming what came instead) when it is not one. */
export function problemOf(res: LightMyRequestResponse): Problem {
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(
      `expected problem+json, got ${String(res.headers['content-type'])} (${res.statusCode}): ${res.body.slice(0, 200)}`
    )
  }
  return res.json()
}

/** Asserts an RFC 9457 answer: this status, a problem+json body, this machine code. */
export function isProblem(
  t: Test,
  res: LightMyRequestResponse,
  status: number,
  code: string,
  what = `${status} ${code}`
): void {
  t.equal(res.statusCode, status, `${what}: ${status} (${res.body.slice(0, 300)})`)
  const type = String(res.headers['content-type'])
  t.match(type, /^application\/problem\+json/, `${what}: problem+json`)
  t.equal(type.startsWith('application/problem+json') ? problemOf(res).code : undefined, code, `${what}: ${code}`)
}

/** Asserts a 400 validation-failed naming `path` among its errors. */
export function isInvalid(t: Test, res: LightMyRequestResponse, path: string, what: string): void {
  isProblem(t, res, 400, 'validation-failed', what)
  const errors = String(res.headers['content-type']).startsWith('application/problem+json')
    ? (problemOf(res).errors ?? [])
    : []
  t.ok(
    errors.some((e) => e.path === path),
    `${what}: errors name ${path} (got ${JSON.stringify(errors)})`
  )
}

/**
 * A problem without what depends on the request itself (its instance and requestId), with the status:
 * two answers with the same shape tell a caller exactly the same thing.
 */
export function problemShape(res: LightMyRequestResponse): Record<string, unknown> {
  const { instance: _i, requestId: _r, ...rest } = problemOf(res) as Record<string, unknown>
  return { status: res.statusCode, ...rest }
}

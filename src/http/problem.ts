import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { isDatabaseUnavailable, pgErrorOf } from '../db/errors.ts'
import { DomainError, type ErrorCode, type ErrorDetail, MAX_LISTED_ERRORS } from '../errors.ts'
import { ProblemError, statusOf, titleOf, wireCode } from './problem-catalog.ts'

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance?: string
  requestId?: string
  errors?: ErrorDetail[]
  [k: string]: unknown
}

const retryAfter: Partial<Record<ErrorCode, string>> = {
  DATABASE_UNAVAILABLE: '5',
  CONCURRENT_UPDATE: '1',
  AUTH_UNAVAILABLE: '10',
  OVERLOADED: '5',
  TOO_MANY_STREAMS: '5',
  TIMED_OUT: '5',
  OUTCOME_UNKNOWN: '5'
}

export function problemBody(publicUrl: string, request: FastifyRequest, err: DomainError): Problem {
  // A use case's facts (`extra`) come first: they can add members, never replace the ones RFC 9457 and our clients read.
  const body: Problem = {
    ...err.extra,
    type: `${publicUrl}/problems/${wireCode(err.code)}`,
    title: titleOf(err.code),
    status: statusOf(err.code),
    detail: err.message,
    code: wireCode(err.code),
    instance: request.url.split('?')[0],
    requestId: request.id
  }
  // Every path that lists errors is capped where it is made; this caps whichever did not, whatever it found.
  if (err.errors)
    body.errors = err.errors.length > MAX_LISTED_ERRORS ? err.errors.slice(0, MAX_LISTED_ERRORS) : err.errors
  return body
}

export function sendProblem(
  publicUrl: string,
  request: FastifyRequest,
  reply: FastifyReply,
  err: DomainError
): FastifyReply {
  const headers = { ...(err instanceof ProblemError ? err.headers : {}) }
  const retry = retryAfter[err.code]
  if (retry && !headers['retry-after']) headers['retry-after'] = retry
  // RFC 6750: every 401 says how to authenticate, whichever layer refused the caller.
  if (statusOf(err.code) === 401 && !headers['www-authenticate'])
    headers['www-authenticate'] = 'Bearer realm="accord", error="invalid_token"'
  return reply
    .code(statusOf(err.code))
    .headers(headers)
    .type('application/problem+json')
    .serializer(JSON.stringify)
    .send(problemBody(publicUrl, request, err))
}

/** Translates anything thrown into a DomainError; unknown errors become INTERNAL (logged, never shown). */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err
  const e = err as FastifyError & { validationContext?: string }
  if (hasZodFastifySchemaValidationErrors(e)) {
    // Named as OpenAPI names parameter locations: body, query, path, header.
    const where =
      ({ querystring: 'query', params: 'path', headers: 'header' } as Record<string, string>)[
        e.validationContext ?? ''
      ] ??
      e.validationContext ??
      'body'
    const errors = e.validation.flatMap((v) => {
      const path = v.instancePath === '/' ? '' : v.instancePath
      // An unknown field is reported at the field itself (JSON Pointer escaped), not at its parent.
      const keys = v.keyword === 'unrecognized_keys' ? (v.params as { keys?: unknown }).keys : undefined
      if (Array.isArray(keys) && keys.length > 0)
        return keys.map((key) => ({
          in: where,
          path: `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`,
          message: `unknown field "${String(key)}"`
        }))
      return [{ in: where, path, message: v.message ?? 'invalid' }]
    })
    // Listed up to MAX_LISTED_ERRORS: a 64 KiB body of bad items or unknown keys would otherwise answer megabytes.
    const more = errors.length > MAX_LISTED_ERRORS ? `; the first ${MAX_LISTED_ERRORS} are listed` : ''
    return new DomainError(
      'VALIDATION_FAILED',
      `${errors.length} problem${errors.length === 1 ? '' : 's'} in the request ${where}${more}`,
      { errors: errors.slice(0, MAX_LISTED_ERRORS) }
    )
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError('PAYLOAD_TOO_LARGE', 'the body is larger than 64 KiB')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new DomainError('BAD_REQUEST', 'the Content-Length does not match the body')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new DomainError('MALFORMED_JSON', 'the body is empty but Content-Type says JSON')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new DomainError('MALFORMED_JSON', 'the body is not valid JSON')
  }
  if (e instanceof SyntaxError && e.statusCode === 400)
    return new DomainError('MALFORMED_JSON', 'the body is not valid JSON')
  // A deadlock or a serialization failure rolled the transaction back: nothing changed, and the same request
  // sent again will very likely succeed. A 503 (not a 409): an Idempotency-Key is released for that retry.
  const sqlstate = pgErrorOf(err)?.code
  if (sqlstate === '40P01' || sqlstate === '40001')
    return new DomainError(
      'CONCURRENT_UPDATE',
      'the request met another changing the same records and was rolled back: nothing changed; send it again',
      { cause: err }
    )
  if (isDatabaseUnavailable(err))
    return new DomainError('DATABASE_UNAVAILABLE', 'the database is unavailable; retry shortly', { cause: err })
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 413) return new DomainError('PAYLOAD_TOO_LARGE', 'the body is too large')
    if (e.statusCode === 415) return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json')
    return new DomainError('BAD_REQUEST', 'the request could not be understood')
  }
  return new DomainError('INTERNAL', 'something went wrong on our side; the request changed nothing', { cause: err })
}

/** The answer to a request whose work was saved but whose answer failed: read the resource, do not redo it. */
export const savedAnswerLost = (cause?: unknown): DomainError =>
  new DomainError(
    'SAVED_ANSWER_LOST',
    'your change was saved, but its answer could not be made: read the resource to see it (a retry with the same Idempotency-Key will not do it again)',
    { cause }
  )

/** One error handler and one not-found handler for the whole app: every error is problem+json. */
export function registerProblemHandlers(app: FastifyInstance, publicUrl: string): void {
  app.setErrorHandler((err, request, reply) => {
    let problem = toDomainError(err)
    // A failure after the request's work committed (building its answer, say) must not read as "nothing changed".
    if (statusOf(problem.code) >= 500 && request.work?.committed && problem.code !== 'SAVED_ANSWER_LOST')
      problem = savedAnswerLost(problem)
    if (statusOf(problem.code) >= 500) {
      // Logged by type, codes and frames only (the `err` serializer, describeFailure): a query error's message carries its parameters.
      const log = { code: problem.code, err: problem.cause ?? err }
      if (problem.code === 'INTERNAL') request.log.error(log, 'request failed')
      else request.log.warn(log, 'request failed: dependency unavailable')
    }
    return sendProblem(publicUrl, request, reply, problem)
  })
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(
      publicUrl,
      request,
      reply,
      new DomainError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)
    )
  })
}

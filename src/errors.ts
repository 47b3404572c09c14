/**
 * Every expected failure of a use case is a DomainError with a code from this
 * list: what went wrong, in the domain's words. How each code is answered
 * (HTTP status, title) is the HTTP layer's business: http/problem-catalog.ts
 * maps every code, so a new code cannot be left unmapped.
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'MALFORMED_JSON',
  'INVALID_CURSOR',
  'TOKEN_REQUIRED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'ACCOUNT_ERASED',
  'INSUFFICIENT_SCOPE',
  'FORBIDDEN',
  'OBSERVER_READ_ONLY',
  'NOT_A_SIGNER',
  'NOT_THE_AUTHOR',
  'NOT_A_REVIEWER',
  'NOT_THE_SUBJECT',
  'NOT_FOUND',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENT_REQUEST_DONE',
  'CONFLICT',
  'PARTNERSHIP_DISSOLVED',
  'PARTNERSHIP_FULL',
  'TOO_MANY_CALENDAR_TOKENS',
  'TOO_MANY_INVITATIONS',
  'ALREADY_MEMBER',
  'INVITATION_NOT_APPROVED',
  'INVITATION_NOT_PENDING',
  'NOT_AN_OBSERVER_INVITATION',
  'ALREADY_APPROVED',
  'CONTENT_HASH_MISMATCH',
  'ALREADY_SIGNED',
  'VERSION_NOT_OPEN',
  'VERSION_NOT_DRAFT',
  'PROPOSAL_OPEN',
  'NOT_ENOUGH_PARTNERS',
  'AGREEMENT_CLOSED',
  'NOTHING_TO_RETIRE',
  'NOT_SIGNED',
  'REVIEW_OPEN',
  'REVIEW_CLOSED',
  'AGREEMENT_NOT_ACTIVE',
  'INCIDENT_STATUS',
  'TOO_MANY_WEBHOOKS',
  'WEBHOOK_URL_NOT_ALLOWED',
  'GONE',
  'INVITATION_USED',
  'INVITATION_REVOKED',
  'INVITATION_EXPIRED',
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'HEADERS_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_ACCEPTABLE',
  'IDEMPOTENCY_KEY_REUSED',
  'PRECONDITION_REQUIRED',
  'RATE_LIMITED',
  'TOO_MANY_STREAMS',
  'INTERNAL',
  'DATABASE_UNAVAILABLE',
  'CONCURRENT_UPDATE',
  'AUTH_UNAVAILABLE',
  'OVERLOADED',
  'TIMED_OUT',
  'OUTCOME_UNKNOWN',
  'SAVED_ANSWER_LOST'
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/** At most this many entries in a problem's `errors`: no answer grows with a hostile body. Details count them all. */
export const MAX_LISTED_ERRORS = 20

export interface ErrorDetail {
  in?: string
  path: string
  message: string
}

export class DomainError extends Error {
  override name = 'DomainError'
  readonly code: ErrorCode
  /** For invalid input: each problem, where it is (`in`: body, query, path, header) and what is wrong. */
  readonly errors?: ErrorDetail[]
  /** Facts a client can act on, answered with the error (e.g. the open review's id). */
  readonly extra?: Record<string, unknown>

  constructor(
    code: ErrorCode,
    detail: string,
    options: { errors?: ErrorDetail[]; extra?: Record<string, unknown>; cause?: unknown } = {}
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    if (options.errors) this.errors = options.errors
    if (options.extra) this.extra = options.extra
  }
}

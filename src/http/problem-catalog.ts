import { DomainError, type ErrorCode, type ErrorDetail } from '../errors.ts'

/**
 * How every domain error code is answered: its HTTP status and its problem
 * title. Total over the codes (a Record over ErrorCode), so a new code cannot be
 * forgotten here. On the wire the code is kebab-case (`CONTENT_HASH_MISMATCH` →
 * `content-hash-mismatch`).
 */
export const problemCatalog: Record<ErrorCode, readonly [number, string]> = {
  BAD_REQUEST: [400, 'Bad request'],
  VALIDATION_FAILED: [400, 'The request is not valid'],
  MALFORMED_JSON: [400, 'The body is not valid JSON'],
  INVALID_CURSOR: [400, 'The cursor is not valid'],
  TOKEN_REQUIRED: [401, 'A bearer token is required'],
  TOKEN_INVALID: [401, 'The bearer token is not valid'],
  TOKEN_EXPIRED: [401, 'The bearer token has expired'],
  ACCOUNT_ERASED: [401, 'This account was erased'],
  INSUFFICIENT_SCOPE: [403, 'The token lacks the scope this route requires'],
  FORBIDDEN: [403, 'Not allowed'],
  OBSERVER_READ_ONLY: [403, 'Observers can read but not change anything'],
  NOT_A_SIGNER: [403, 'Only the partners named when the version was proposed sign it'],
  NOT_THE_AUTHOR: [403, 'Only the author may do this'],
  NOT_A_REVIEWER: [403, 'Only the partners asked to review answer this review'],
  NOT_THE_SUBJECT: [403, 'Only the partner the incident is about answers it'],
  NOT_FOUND: [404, 'Not found'],
  IDEMPOTENCY_KEY_IN_USE: [409, 'A request with this Idempotency-Key is still running'],
  IDEMPOTENT_REQUEST_DONE: [409, 'The request with this Idempotency-Key was done, but its answer was lost'],
  CONFLICT: [409, 'Conflict'],
  PARTNERSHIP_DISSOLVED: [409, 'The partnership is dissolved and read-only'],
  PARTNERSHIP_FULL: [409, 'The partnership has as many members of this role as it may'],
  TOO_MANY_CALENDAR_TOKENS: [409, 'You have as many calendar feeds as you may'],
  TOO_MANY_INVITATIONS: [409, 'As many invitations of this role are pending as there are free places'],
  ALREADY_MEMBER: [409, 'Already a member of this partnership'],
  INVITATION_NOT_APPROVED: [409, 'Every partner must approve an observer before they can join'],
  INVITATION_NOT_PENDING: [409, 'The invitation is no longer pending'],
  NOT_AN_OBSERVER_INVITATION: [409, 'Only observer invitations need approval'],
  ALREADY_APPROVED: [409, 'You already approved this invitation'],
  CONTENT_HASH_MISMATCH: [409, 'The content hash does not match this version'],
  ALREADY_SIGNED: [409, 'You already signed this version'],
  VERSION_NOT_OPEN: [409, 'The version is not open for this'],
  VERSION_NOT_DRAFT: [409, 'Only a draft can be changed'],
  PROPOSAL_OPEN: [409, 'Another proposal is open on this agreement'],
  NOT_ENOUGH_PARTNERS: [409, 'A proposal needs at least two partners'],
  AGREEMENT_CLOSED: [409, 'The agreement is closed'],
  NOTHING_TO_RETIRE: [409, 'Only an agreement that was active can be retired'],
  NOT_SIGNED: [409, 'You have no signature on this version to revoke'],
  REVIEW_OPEN: [409, 'A review of this agreement is already open'],
  REVIEW_CLOSED: [409, 'The review is closed'],
  AGREEMENT_NOT_ACTIVE: [409, 'The agreement is not active'],
  INCIDENT_STATUS: [409, 'The incident is not in a state that allows this'],
  TOO_MANY_WEBHOOKS: [409, 'The partnership has as many webhooks as it may'],
  WEBHOOK_URL_NOT_ALLOWED: [400, 'The webhook URL is not one Accord may call'],
  GONE: [410, 'Gone'],
  INVITATION_USED: [410, 'The invitation was already used'],
  INVITATION_REVOKED: [410, 'The invitation was revoked'],
  INVITATION_EXPIRED: [410, 'The invitation has expired'],
  PRECONDITION_FAILED: [412, 'The resource has changed since you read it'],
  PAYLOAD_TOO_LARGE: [413, 'The body is too large'],
  HEADERS_TOO_LARGE: [431, 'The request headers are too large'],
  REQUEST_TIMEOUT: [408, 'The request took too long to arrive'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'The body must be JSON'],
  NOT_ACCEPTABLE: [406, 'None of the media types the request accepts can be given'],
  IDEMPOTENCY_KEY_REUSED: [422, 'This Idempotency-Key was used with another request'],
  PRECONDITION_REQUIRED: [428, 'This change needs an If-Match header'],
  RATE_LIMITED: [429, 'Too many requests'],
  TOO_MANY_STREAMS: [429, 'Too many open event streams'],
  INTERNAL: [500, 'Internal server error'],
  DATABASE_UNAVAILABLE: [503, 'The database is unavailable'],
  CONCURRENT_UPDATE: [503, 'Another request changed the same records at the same time'],
  AUTH_UNAVAILABLE: [503, 'The identity provider is unavailable'],
  OVERLOADED: [503, 'The service is overloaded'],
  TIMED_OUT: [503, 'The request took too long'],
  OUTCOME_UNKNOWN: [503, 'The change may or may not have been saved'],
  SAVED_ANSWER_LOST: [503, 'The change was saved, but its answer could not be made']
}

/** A failure of the HTTP layer itself (authentication, preconditions, rate limits), with the headers its answer needs. */
export class ProblemError extends DomainError {
  override name = 'ProblemError'
  readonly headers: Record<string, string>

  constructor(
    code: ErrorCode,
    detail: string,
    options: { headers: Record<string, string>; errors?: ErrorDetail[]; cause?: unknown }
  ) {
    super(code, detail, options)
    this.headers = options.headers
  }
}

export const wireCode = (code: ErrorCode): string => code.toLowerCase().replaceAll('_', '-')
export const statusOf = (code: ErrorCode): number => problemCatalog[code][0]
export const titleOf = (code: ErrorCode): string => problemCatalog[code][1]

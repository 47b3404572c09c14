import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import type { Principal } from './authenticator.ts'
import { ProblemError, statusOf } from './problem-catalog.ts'

export const SCOPES = [
  'partnerships:read',
  'partnerships:write',
  'agreements:read',
  'agreements:write',
  'reviews:write',
  'incidents:write',
  'audit:read',
  'webhooks:manage',
  'profile:write'
] as const
export type Scope = (typeof SCOPES)[number]

export interface Caller {
  readonly userId: string
  readonly principal: Principal
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
    /** The caller's identity must be provisioned afresh next time (forgetCallerIdentity). */
    identityForgotten: boolean
  }
}

/**
 * The caller's (iss, sub) no longer maps to their user id (they were just erased): this instance forgets the
 * mapping once the answer is sent, so a later sign-in is provisioned anew, as a new person.
 */
export function forgetCallerIdentity(request: FastifyRequest): void {
  request.identityForgotten = true
}

/**
 * The OpenAPI `security` of a route is also what the auth hook enforces, so the
 * document and the behaviour cannot drift: `secured('agreements:read')` requires
 * a token carrying that scope (or no scope at all); `publicRoute` needs none.
 */
export const secured = (scope?: Scope) => [{ bearerAuth: scope ? [scope] : [] }]
export const publicRoute: never[] = []

/** The authenticated caller of a secured route (the hook guarantees one). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new DomainError('TOKEN_REQUIRED', 'this route needs a bearer token')
  return request.caller
}

function requiredScopes(request: FastifyRequest): string[] | null {
  const schema = request.routeOptions.schema as
    | { security?: Array<Record<string, string[]>>; hide?: boolean }
    | undefined
  // The /docs page and its assets are the only hidden routes: public, like the document they show.
  if (schema?.hide === true) return null
  const security = schema?.security
  if (security === undefined) return [] // secure by default: a route that says nothing needs a token
  if (security.length === 0) return null
  return security[0]?.bearerAuth ?? []
}

const bearer = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

const FAILURE_WINDOW_MS = 60_000

/** The Accord user a principal speaks for, as remembered per identity: its id, and the bound its tokens must pass. */
export interface KnownUser {
  userId: string
  /** When the identity was last erased (its tokens issued by then were the erased person's); null for most. */
  erasedAt: Date | null
}

/**
 * `provision` turns a verified principal into the Accord user it speaks for (creating the user on first sight,
 * refusing a token it must not admit), and `admit` refuses, on a remembered identity, a token provision would
 * have refused: the users capability's business, passed in by app.ts.
 */
async function authPlugin(
  app: FastifyInstance,
  deps: Pick<Deps, 'authenticator' | 'config'> & {
    provision: (principal: Principal) => Promise<KnownUser>
    admit: (principal: Principal, known: KnownUser) => void
  }
): Promise<void> {
  app.decorateRequest('caller', null)
  // Failed authentications per client address in a fixed one-minute window. The per-caller rate limit runs after
  // authentication (it is keyed by user), so without this a client could try tokens as fast as it can send them.
  const failures = new LRUCache<string, { count: number; resetAt: number }>({ max: 50_000 })
  const limit = deps.config.authFailuresPerMinute
  const refuseIfLocked = (ip: string): void => {
    const entry = failures.get(ip)
    if (entry === undefined || entry.count < limit) return
    const wait = Math.ceil((entry.resetAt - Date.now()) / 1000)
    if (wait <= 0) {
      failures.delete(ip)
      return
    }
    throw new ProblemError(
      'RATE_LIMITED',
      `more than ${limit} failed authentications from this address in a minute; retry after ${wait} s`,
      { headers: { 'retry-after': String(wait) } }
    )
  }
  const recordFailure = (ip: string): void => {
    const now = Date.now()
    const entry = failures.get(ip)
    if (entry === undefined || entry.resetAt <= now) failures.set(ip, { count: 1, resetAt: now + FAILURE_WINDOW_MS })
    else entry.count++
  }
  // (iss, sub) → user id, remembered instead of a query per request. It changes only when the person is erased:
  // the erasing instance forgets it at once, one that answers 401 account-erased through it forgets it then, and
  // every other forgets it within IDENTITY_TTL_MS, so a new sign-in after an erasure soon becomes a new person.
  const userIds = new LRUCache<string, KnownUser>({ max: 50_000, ttl: IDENTITY_TTL_MS })
  app.decorateRequest('identityForgotten', false)
  app.addHook('onError', async (request, _reply, error) => {
    if (error instanceof DomainError && error.code === 'ACCOUNT_ERASED') request.identityForgotten = true
  })
  // Runs on every answer: a callback hook, not an async one (no promise per request for a flag that is rarely set).
  app.addHook('onResponse', (request, _reply, done) => {
    if (request.identityForgotten && request.caller)
      userIds.delete(`${request.caller.principal.issuer}\n${request.caller.principal.subject}`)
    done()
  })
  app.addHook('onRequest', async (request) => {
    // is404 reads the route's context directly; each `request.routeOptions` builds a new object (read once, below).
    if (request.is404) return // unknown route: the not-found handler answers
    const scopes = requiredScopes(request)
    if (scopes === null) return
    refuseIfLocked(request.ip)
    try {
      request.caller = await authenticate(request, scopes)
    } catch (err) {
      if (err instanceof DomainError && statusOf(err.code) === 401) recordFailure(request.ip)
      throw err
    }
  })

  async function authenticate(request: FastifyRequest, scopes: string[]): Promise<Caller> {
    const header = request.headers.authorization
    if (!header) {
      throw new ProblemError('TOKEN_REQUIRED', 'send Authorization: Bearer <token>', {
        headers: { 'www-authenticate': 'Bearer realm="accord"' }
      })
    }
    const match = bearer.exec(header)
    if (!match?.[1]) {
      throw new ProblemError('TOKEN_INVALID', 'the Authorization header must be "Bearer <token>"', {
        headers: { 'www-authenticate': 'Bearer realm="accord", error="invalid_request"' }
      })
    }
    const principal = await deps.authenticator.verify(match[1])
    const missing = principal.scopes === null ? [] : scopes.filter((s) => !principal.scopes!.has(s))
    if (missing.length > 0) {
      throw new ProblemError('INSUFFICIENT_SCOPE', `this route needs the scope ${missing.join(' ')}`, {
        headers: {
          'www-authenticate': `Bearer realm="accord", error="insufficient_scope", scope="${missing.join(' ')}"`
        }
      })
    }
    const identity = `${principal.issuer}\n${principal.subject}`
    let known = userIds.get(identity)
    if (known === undefined) {
      known = await deps.provision(principal)
      userIds.set(identity, known)
    } else if (known.erasedAt !== null) deps.admit(principal, known)
    return { userId: known.userId, principal }
  }
}

/** How long an instance maps an identity to a user id without asking the database again. */
const IDENTITY_TTL_MS = 60_000

export const authentication = fp(authPlugin, { name: 'accord-auth', fastify: '5.x' })

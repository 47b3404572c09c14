import canonicalize from 'canonicalize'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onSendAsyncHookHandler,
  preHandlerAsyncHookHandler
} from 'fastify'
import fp from 'fastify-plugin'
import type { Db } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { commitWith } from '../db/transaction.ts'
import { DomainError } from '../errors.ts'
import * as repo from '../idempotency/idempotency.repo.ts'
import { type Derived, derive, deriveLegacy, openAnswer, sealBody } from '../idempotency/idempotency.seal.ts'
import type { IdempotencyKeyRow } from '../idempotency/idempotency.sql.ts'
import { problemBody, savedAnswerLost } from './problem.ts'
import { ProblemError, statusOf } from './problem-catalog.ts'
import { IDEMPOTENCY_KEY } from './schemas.ts'

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { id: string; seal: Buffer } | null
  }
}

const TTL_MS = 24 * 60 * 60 * 1000
const REPLAYED_HEADERS = ['content-type', 'location', 'etag']

/**
 * `Idempotency-Key` on every authenticated POST (SPEC §4.1). Keys are scoped to
 * the caller, the method and the resource (the matched route and its parameters). The first request claims the key
 * (`running`); a retry with the same body gets the stored status and body back
 * for 24 h, another body gets 422, and a retry while the first still runs gets
 * 409. The claim is marked in the transaction that does the work, so a retry
 * after a crash between that commit and the recorded answer gets 409
 * idempotent-request-done instead of doing the work twice. Responses of 5xx and 429 are not stored (a retry may then do the work),
 * and neither are requests that failed validation (they did nothing).
 *
 * Stored responses can hold secrets shown once (invitation and calendar tokens) and agreement text, so the
 * table never holds them in clear, nor anything that confirms a guess: the key is stored as its HMAC under the
 * server's `idempotency` secret (keys/server-secret.service.ts, sealed under the KEK), and the response (status
 * aside: its headers and body) is sealed with AES-256-GCM under a key derived (HKDF) from both that secret and
 * the Idempotency-Key, which only the client has; the body's fingerprint is an HMAC under that same key. A dump
 * of the database opens nothing without the KEK, whatever the client's key; the KEK without the client's key
 * opens nothing either.
 */
async function idempotencyPlugin(
  app: FastifyInstance,
  deps: {
    db: Db
    now: () => Date
    /** The server's `idempotency` secret (keys/server-secret.service.ts). */
    serverSecrets: { readonly idempotency: Buffer }
    config: { requestTimeoutMs: number; publicUrl: string }
  }
): Promise<void> {
  const { db } = deps
  // How long a running request holds its key: twice the request timeout, so only a dead process loses it
  // (the handler timer abandons any request long before), and a retry after a crash waits no longer than that.
  const LEASE_MS = 2 * deps.config.requestTimeoutMs
  app.decorateRequest('idempotency', null)

  // The claim; then every transaction the request opens marks it `committed` as it commits (db/transaction.ts).
  const claimHook = async (request: FastifyRequest, reply: FastifyReply) => {
    const held = await claim(request, reply)
    if (reply.sent) return reply // the first request's answer, replayed
    if (held !== null) commitWith((tx) => repo.markKeyCommitted(tx, held.id))
  }
  // Only POST takes a key (SPEC §4.1), so only POST routes run the two hooks: on every other request they were two
  // async functions, their promises and Fastify's bookkeeping for nothing. Added to each POST route as it is
  // registered (this plugin is registered before any route that takes a key; a test holds every POST to it).
  app.addHook('onRoute', (route) => {
    if (![route.method].flat().includes('POST')) return
    route.preHandler = [...[route.preHandler ?? []].flat(), claimHook as preHandlerAsyncHookHandler]
    route.onSend = [...[route.onSend ?? []].flat(), answerHook as onSendAsyncHookHandler]
  })

  /** The request's claim on its key, or null (no key, or the answer was replayed from the first request). */
  async function claim(request: FastifyRequest, reply: FastifyReply): Promise<{ id: string } | null> {
    if (request.method !== 'POST' || !request.caller) return null
    const key = request.headers['idempotency-key']
    if (key === undefined) return null
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      throw new DomainError(
        'VALIDATION_FAILED',
        'Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice)',
        {
          errors: [{ in: 'header', path: '/idempotency-key', message: 'must be 1–255 visible ASCII characters' }]
        }
      )
    }
    const { userId } = request.caller
    const path = routedPath(request)
    const body = canonicalize(request.body ?? null) ?? 'null'
    const derived = derive(deps.serverSecrets.idempotency, userId, key, path, body)
    const scope = { userId, method: request.method, path, key: derived.key }

    // Scheme 1 (records written before the server secret, by this version's predecessor, even during a rolling
    // upgrade): the claim is refused while one exists for the same key, so the first request never runs twice.
    const legacy = deriveLegacy(userId, key, path, body)

    for (let attempt = 0; attempt < 3; attempt++) {
      const now = deps.now()
      const id = await repo.claimKey(
        db,
        {
          id: newId(),
          ...scope,
          fingerprint: derived.fingerprint,
          scheme: 2,
          state: 'running',
          leaseUntil: new Date(now.getTime() + LEASE_MS),
          createdAt: now,
          expiresAt: new Date(now.getTime() + TTL_MS)
        },
        legacy.key
      )
      if (id !== undefined) {
        request.idempotency = { id, seal: derived.seal }
        return { id }
      }
      let prior = await repo.findKey(db, scope)
      let priorDerived: Derived = derived
      if (!prior) {
        prior = await repo.findKey(db, { ...scope, key: legacy.key })
        priorDerived = legacy
      }
      if (!prior) continue // deleted between our insert and select: claim again
      if (prior.expiresAt <= now) {
        await repo.deleteExpiredKey(db, prior.id, now)
        continue
      }
      if (answerPrior(prior, priorDerived, reply, now) === 'replayed') return null
      if (priorDerived === legacy) {
        // scheme 1, running, its process dead before its work committed: it goes, and the key is claimed anew
        await repo.deleteAbandonedKey(db, prior.id, prior.leaseUntil)
        continue
      }
      // The process that held the key died before its work committed: take the lease over, once.
      if (await repo.takeOverKey(db, prior.id, prior.leaseUntil, new Date(now.getTime() + LEASE_MS))) {
        request.idempotency = { id: prior.id, seal: derived.seal }
        return { id: prior.id }
      }
    }
    throw new ProblemError('IDEMPOTENCY_KEY_IN_USE', 'this Idempotency-Key is contended; retry in a moment', {
      headers: { 'retry-after': '1' }
    })
  }

  /**
   * What an unexpired record of this key says: another body (422), its answer replayed, still running (409),
   * done but its answer lost (409); `abandoned` when its process died before its work committed.
   */
  function answerPrior(
    prior: IdempotencyKeyRow,
    derived: Derived,
    reply: FastifyReply,
    now: Date
  ): 'replayed' | 'abandoned' {
    if (prior.fingerprint !== derived.fingerprint) {
      throw new DomainError(
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was first used with another request body; use a new key for a new request'
      )
    }
    if (prior.state === 'done') {
      let answer: { headers: Record<string, string>; body: string }
      try {
        answer = openAnswer(prior, derived.seal)
      } catch (err) {
        // Altered or moved in the database: the work was done, its answer cannot be given back.
        throw savedAnswerLost(err)
      }
      reply.code(prior.statusCode ?? 200).headers({ ...answer.headers, 'idempotent-replayed': 'true' })
      reply.send(answer.body)
      return 'replayed'
    }
    if (prior.leaseUntil > now) {
      throw new ProblemError(
        'IDEMPOTENCY_KEY_IN_USE',
        'the first request with this Idempotency-Key is still running; retry in a moment',
        { headers: { 'retry-after': '1' } }
      )
    }
    if (prior.state === 'committed') {
      throw new DomainError(
        'IDEMPOTENT_REQUEST_DONE',
        'the first request with this Idempotency-Key did its work, but its answer was lost when the server stopped; it will not run again: read the resource to see its result'
      )
    }
    return 'abandoned'
  }

  async function answerHook(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const held = request.idempotency
    if (!held) return payload
    request.idempotency = null
    try {
      const status = reply.statusCode
      if (request.work?.abandoned) {
        // Answered at the deadline while its work still runs (and holds its connection: on PGlite, the only
        // one): that work can no longer commit, so the claim is released once it is done, not before this answer.
        repo
          .releaseKey(db, held.id, deps.now())
          .catch((err: unknown) =>
            request.log.warn({ err }, 'could not release the idempotency key of an abandoned request')
          )
      } else if (
        status >= 500 ||
        status === 429 ||
        (payload !== null && payload !== undefined && typeof payload !== 'string')
      ) {
        await repo.releaseKey(db, held.id, deps.now())
      } else {
        const headers: Record<string, string> = {}
        for (const h of REPLAYED_HEADERS) {
          const v = reply.getHeader(h)
          if (v !== undefined) headers[h] = String(v)
        }
        try {
          await repo.recordAnswer(db, held.id, {
            statusCode: status,
            headers: null,
            body: sealBody(held.seal, JSON.stringify({ headers, body: (payload as string | null) ?? '' }), held.id)
          })
        } catch (err) {
          // The answer could not be kept for retries (the database went away after the work): sending it now
          // would promise a replay nobody can give. A retry learns the work was done (409 idempotent-request-done),
          // or runs if nothing committed; this answer says the same.
          request.log.warn({ err }, 'could not record the idempotent response')
          // Best effort: end the claim's lease now, so a retry does not wait for it to learn what happened.
          await repo.releaseKey(db, held.id, deps.now()).catch(() => {})
          return answerInstead(
            request,
            reply,
            request.work?.committed
              ? savedAnswerLost(err)
              : new DomainError('DATABASE_UNAVAILABLE', 'the database is unavailable; retry shortly', { cause: err })
          )
        }
      }
    } catch (err) {
      // Releasing a claim failed: a retry within the lease gets 409, one after it runs (or learns the work was done).
      request.log.warn({ err }, 'could not release the idempotency key')
    }
    return payload
  }

  /** Replaces the answer about to be sent by a problem (from onSend: nothing has been written yet). */
  function answerInstead(request: FastifyRequest, reply: FastifyReply, problem: DomainError): string {
    for (const h of ['location', 'etag', 'content-length']) reply.removeHeader(h)
    reply.code(statusOf(problem.code)).header('content-type', 'application/problem+json').header('retry-after', '5')
    return JSON.stringify(problemBody(deps.config.publicUrl, request, problem))
  }
}

/**
 * The resource a request acts on: its route with the parsed parameters filled
 * in (lower case: ids are UUIDs), so `/v1/partnerships/` and `/v1/partnerships`,
 * or an id in upper and lower case, are the same scope, as they are the same work.
 */
function routedPath(request: FastifyRequest): string {
  const params = (request.params ?? {}) as Record<string, unknown>
  return (request.routeOptions.url ?? request.url.split('?')[0]!).replace(/:(\w+)/g, (_, name: string) =>
    String(params[name]).toLowerCase()
  )
}

export const idempotency = fp(idempotencyPlugin, {
  name: 'accord-idempotency',
  fastify: '5.x',
  dependencies: ['accord-auth']
})

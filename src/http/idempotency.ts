import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import canonicalize from 'canonicalize'
import { and, eq, lte } from 'drizzle-orm'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Db } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { DomainError } from './errors.ts'
import { idempotencyKeys } from './idempotency.sql.ts'
import { IDEMPOTENCY_KEY } from './schemas.ts'

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { id: string, fingerprint: string, seal: Buffer } | null
  }
}

const TTL_MS = 24 * 60 * 60 * 1000
const REPLAYED_HEADERS = ['content-type', 'location', 'etag']

/**
 * `Idempotency-Key` on every authenticated POST (SPEC §4.1). Keys are scoped to
 * the caller, the method and the resource (the matched route and its parameters). The first request claims the key
 * (`running`); a retry with the same body gets the stored status and body back
 * for 24 h, another body gets 422, and a retry while the first still runs gets
 * 409. Responses of 5xx and 429 are not stored (a retry may then do the work),
 * and neither are requests that failed validation (they did nothing).
 *
 * Stored responses can hold secrets shown once (invitation and calendar
 * tokens) and agreement text, so the table never holds them in clear: the key
 * is stored as its SHA-256, and the response is sealed with AES-256-GCM under a
 * key derived (HKDF) from the Idempotency-Key itself, which only the client has.
 */
async function idempotencyPlugin (app: FastifyInstance, deps: { db: Db, now: () => Date, config: { requestTimeoutMs: number } }): Promise<void> {
  const { db } = deps
  // How long a running request holds its key: twice the request timeout, so only a dead process loses it
  // (the handler timer abandons any request long before), and a retry after a crash waits no longer than that.
  const LEASE_MS = 2 * deps.config.requestTimeoutMs
  app.decorateRequest('idempotency', null)

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST' || !request.caller) return
    const key = request.headers['idempotency-key']
    if (key === undefined) return
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      throw new DomainError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice)')
    }
    const scope = { userId: request.caller.userId, method: request.method, path: routedPath(request), key: createHash('sha256').update(key).digest('base64url') }
    const seal = Buffer.from(hkdfSync('sha256', key, request.caller.userId, 'accord idempotent response', 32))
    const fingerprint = createHash('sha256').update(canonicalize(request.body ?? null) ?? 'null').update('\0').update(scope.path).digest('base64url')

    for (let attempt = 0; attempt < 3; attempt++) {
      const now = deps.now()
      const [claimed] = await db.insert(idempotencyKeys).values({
        id: newId(), ...scope, fingerprint, state: 'running',
        leaseUntil: new Date(now.getTime() + LEASE_MS), createdAt: now, expiresAt: new Date(now.getTime() + TTL_MS)
      }).onConflictDoNothing().returning({ id: idempotencyKeys.id })
      if (claimed) {
        request.idempotency = { id: claimed.id, fingerprint, seal }
        return
      }
      const [prior] = await db.select().from(idempotencyKeys).where(and(
        eq(idempotencyKeys.userId, scope.userId), eq(idempotencyKeys.method, scope.method), eq(idempotencyKeys.path, scope.path), eq(idempotencyKeys.key, scope.key)
      )).limit(1)
      if (!prior) continue // deleted between our insert and select: claim again
      if (prior.expiresAt <= now) {
        await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.id, prior.id), lte(idempotencyKeys.expiresAt, now)))
        continue
      }
      if (prior.fingerprint !== fingerprint) {
        throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was first used with another request body; use a new key for a new request')
      }
      if (prior.state === 'done') {
        reply.code(prior.statusCode ?? 200).headers({ ...prior.headers, 'idempotent-replayed': 'true' })
        return reply.send(prior.body ? openBody(seal, prior.body) : '')
      }
      if (prior.leaseUntil > now) {
        throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'the first request with this Idempotency-Key is still running; retry in a moment', { headers: { 'retry-after': '1' } })
      }
      // The process that held the key died mid-request: take the lease over, once.
      const [taken] = await db.update(idempotencyKeys).set({ leaseUntil: new Date(now.getTime() + LEASE_MS) })
        .where(and(eq(idempotencyKeys.id, prior.id), eq(idempotencyKeys.leaseUntil, prior.leaseUntil))).returning({ id: idempotencyKeys.id })
      if (taken) {
        request.idempotency = { id: taken.id, fingerprint, seal }
        return
      }
    }
    throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'this Idempotency-Key is contended; retry in a moment', { headers: { 'retry-after': '1' } })
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const held = request.idempotency
    if (!held) return payload
    request.idempotency = null
    try {
      const status = reply.statusCode
      if (status >= 500 || status === 429 || (payload !== null && payload !== undefined && typeof payload !== 'string')) {
        await db.delete(idempotencyKeys).where(eq(idempotencyKeys.id, held.id))
      } else {
        const headers: Record<string, string> = {}
        for (const h of REPLAYED_HEADERS) {
          const v = reply.getHeader(h)
          if (v !== undefined) headers[h] = String(v)
        }
        await db.update(idempotencyKeys).set({ state: 'done', statusCode: status, headers, body: sealBody(held.seal, (payload as string | null) ?? '') })
          .where(eq(idempotencyKeys.id, held.id))
      }
    } catch (err) {
      // The work is done and answered; if the record is lost, a retry within the lease gets 409 and one after it may redo the work.
      request.log.warn({ err }, 'could not record the idempotent response')
    }
    return payload
  })
}

/**
 * The resource a request acts on: its route with the parsed parameters filled
 * in (lower case: ids are UUIDs), so `/v1/partnerships/` and `/v1/partnerships`,
 * or an id in upper and lower case, are the same scope, as they are the same work.
 */
function routedPath (request: FastifyRequest): string {
  const params = (request.params ?? {}) as Record<string, unknown>
  return (request.routeOptions.url ?? request.url.split('?')[0]!).replace(/:(\w+)/g, (_, name: string) => String(params[name]).toLowerCase())
}

function sealBody (key: Buffer, plain: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${data.toString('base64url')}`
}

function openBody (key: Buffer, sealed: string): string {
  const [, iv, tag, data] = sealed.split('.')
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'))
  decipher.setAuthTag(Buffer.from(tag!, 'base64url'))
  return Buffer.concat([decipher.update(Buffer.from(data!, 'base64url')), decipher.final()]).toString('utf8')
}

export const idempotency = fp(idempotencyPlugin, { name: 'accord-idempotency', fastify: '5.x', dependencies: ['accord-auth'] })

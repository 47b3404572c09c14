import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { ProblemError } from '../http/problem-catalog.ts'

/**
 * GET /metrics, for Prometheus. Hidden from the API document (README.md, "Metrics", says why) and from anyone
 * it is not for: with METRICS_TOKEN set, it needs `Authorization: Bearer <METRICS_TOKEN>` from anywhere (401
 * otherwise); unset, it answers loopback clients only, and anyone else gets the 404 an unknown route gets.
 */
export const metricsRoutes: FastifyPluginAsync<{ deps: Pick<Deps, 'config' | 'metrics'> }> = async (app, { deps }) => {
  const { metrics } = deps
  const allowed = deps.config.metricsToken === null ? loopbackOnly : bearerOnly(deps.config.metricsToken)
  app.get('/metrics', { schema: { hide: true }, onRequest: async (request) => allowed(request) }, async (_, reply) => {
    reply.type(metrics.contentType)
    return metrics.render()
  })
}

function loopbackOnly(request: FastifyRequest): void {
  // Through a proxy on this machine every client looks local: a forwarded request is not a loopback client's.
  const forwarded = request.headers.forwarded !== undefined || request.headers['x-forwarded-for'] !== undefined
  if (forwarded || !isLoopbackAddress(request.socket.remoteAddress))
    throw new DomainError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)
}

const challenge = 'Bearer realm="accord-metrics"'
const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

function bearerOnly(token: string): (request: FastifyRequest) => void {
  // Compared as digests, in constant time: neither the token's characters nor its length show in the timing.
  const expected = digest(token)
  return (request) => {
    const header = request.headers.authorization
    if (header === undefined)
      throw new ProblemError('TOKEN_REQUIRED', 'send Authorization: Bearer <METRICS_TOKEN>', {
        headers: { 'www-authenticate': challenge }
      })
    const presented = /^Bearer +(\S+) *$/i.exec(header)?.[1]
    if (presented === undefined || !timingSafeEqual(digest(presented), expected))
      throw new ProblemError('TOKEN_INVALID', 'this is not the metrics token', {
        headers: { 'www-authenticate': `${challenge}, error="invalid_token"` }
      })
  }
}

/** Whether a peer address is this machine's: 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)
}

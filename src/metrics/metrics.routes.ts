import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.ts'
import { loopbackOnly } from '../http/loopback.ts'
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

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { publicRoute } from '../http/auth.ts'
import { problems } from '../http/schemas.ts'

const READY_TIMEOUT_MS = 2000

/**
 * Liveness (the process answers) and readiness (the database answers and is fully migrated). Neither is rate
 * limited (a load balancer probes as often as it likes) nor counted against its address.
 */
export const healthRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        summary: 'Liveness',
        operationId: 'getHealth',
        tags: ['operations'],
        security: publicRoute,
        response: { 200: z.object({ status: z.literal('ok') }) }
      }
    },
    async () => ({ status: 'ok' as const })
  )

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        summary: 'Readiness: database reachable and migrations applied',
        operationId: 'getReadiness',
        tags: ['operations'],
        security: publicRoute,
        response: {
          200: z.object({ status: z.literal('ready'), database: z.enum(['pglite', 'postgres']) }),
          ...problems(503)
        }
      }
    },
    async () => {
      let timer: NodeJS.Timeout | undefined
      let failure: string
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), READY_TIMEOUT_MS)
      })
      try {
        const ready = await Promise.race([deps.database.ready(), timeout])
        if (ready === true) return { status: 'ready' as const, database: deps.database.kind }
        failure = ready === 'timeout' ? 'the database did not answer in time' : 'migrations are pending'
      } catch {
        failure = 'the database is unreachable'
      } finally {
        clearTimeout(timer)
      }
      throw new DomainError('DATABASE_UNAVAILABLE', `not ready: ${failure}`)
    }
  )
}

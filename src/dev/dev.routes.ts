import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { publicRoute, SCOPES } from '../http/auth.ts'
import { loopbackOnly } from '../http/loopback.ts'
import { problems } from '../http/schemas.ts'
import { mintDevToken } from './dev.service.ts'

const DevTokenRequestSchema = z
  .strictObject({
    sub: z.string().min(1).max(255),
    name: z.string().trim().min(1).max(100).optional(),
    scope: z
      .string()
      .max(500)
      .optional()
      .refine(
        (s) =>
          s === undefined ||
          s
            .split(' ')
            .filter(Boolean)
            .every((x) => (SCOPES as readonly string[]).includes(x)),
        { message: `scopes are space-separated, from: ${SCOPES.join(', ')}` }
      )
  })
  .meta({ id: 'DevTokenRequest' })

const DevTokenSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.int()
  })
  .meta({ id: 'DevToken' })

/**
 * Local token minting; registered only when config.auth.devTokens (otherwise a 404 like any unknown route), and
 * then, unless DEV_TOKENS=true, for loopback clients only (a forwarded request or another address: that 404 too).
 */
export const devRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const onRequest = deps.config.auth.devTokensLoopbackOnly ? [async (r: FastifyRequest) => loopbackOnly(r)] : []
  app.post(
    '/v1/dev/tokens',
    {
      onRequest,
      schema: {
        summary:
          'Mint a token for local development (only on a loopback address outside production, or with DEV_TOKENS=true)',
        operationId: 'createDevToken',
        tags: ['development'],
        security: publicRoute,
        body: DevTokenRequestSchema,
        response: { 201: DevTokenSchema, ...problems(400, 404, 413, 415) }
      }
    },
    async (request, reply) => {
      return reply.code(201).send(await mintDevToken(deps, request.body))
    }
  )
}

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { publicRoute } from '../http/auth.ts'

const JwksSchema = z
  .object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional() })) })
  .meta({ id: 'JsonWebKeySet' })

export const keyRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: "The service's public signing keys (receipts, checkpoints, its own tokens)",
        operationId: 'getJwks',
        tags: ['keys'],
        security: publicRoute,
        response: { 200: JwksSchema }
      }
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return deps.keys.jwks as z.infer<typeof JwksSchema>
    }
  )
}

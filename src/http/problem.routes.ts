import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { ErrorCode } from '../errors.ts'
import { publicRoute } from './auth.ts'
import { problemCatalog, statusOf, titleOf, wireCode } from './problem-catalog.ts'
import { problems } from './schemas.ts'

const ProblemTypeSchema = z.object({ code: z.string(), status: z.int(), title: z.string() }).meta({ id: 'ProblemType' })
const catalog = (Object.keys(problemCatalog) as ErrorCode[]).map((c) => ({
  code: wireCode(c),
  status: statusOf(c),
  title: titleOf(c)
}))

/** Each problem `type` URI resolves to a description of that error, so the catalog documents itself. */
export const problemRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/problems',
    {
      schema: {
        summary: 'Every error code the API can answer with',
        operationId: 'listProblemTypes',
        tags: ['operations'],
        security: publicRoute,
        response: { 200: z.object({ items: z.array(ProblemTypeSchema) }) }
      }
    },
    async () => ({ items: catalog })
  )

  app.get(
    '/problems/:code',
    {
      schema: {
        summary: 'One error code',
        operationId: 'getProblemType',
        tags: ['operations'],
        security: publicRoute,
        params: z.object({ code: z.string().min(1).max(64) }),
        response: { 200: ProblemTypeSchema, ...problems(400, 404) }
      }
    },
    async (request, reply) => {
      const found = catalog.find((p) => p.code === request.params.code)
      if (!found) return reply.callNotFound()
      return found
    }
  )
}

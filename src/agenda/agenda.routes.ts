import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { authProblems } from '../http/schemas.ts'
import { AgendaSchema } from './agenda.schemas.ts'
import { agendaOf } from './agenda.service.ts'

export const agendaRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/v1/partnerships/:pid/agenda',
    {
      schema: {
        summary: 'Your check-in agenda: what to talk about next',
        description:
          'Reviews open or due within 14 days, proposals waiting for your signature, unresolved incidents (flagging those you are asked to answer), suspended agreements, and the incidents and appreciations since each agreement’s last completed review. Each item links to its resource; each list holds at most 100 items.',
        operationId: 'getAgenda',
        tags: ['incidents'],
        security: secured('agreements:read'),
        params: z.object({ pid: z.uuid() }),
        response: { 200: AgendaSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const agenda = await agendaOf(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
      // JSON typed by the schema at compile time (agendaJson), sent without the response schema's run-time pass.
      return reply.type('application/json; charset=utf-8').send(agenda as unknown as z.infer<typeof AgendaSchema>)
    }
  )
}

import { Readable } from 'node:stream'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { authProblems } from '../http/schemas.ts'
import { EXPORT_DESCRIPTION, ExportSchema } from './export.schemas.ts'
import { openExport } from './export.service.ts'

export const exportRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/v1/me/export',
    {
      // A HEAD would read the whole export for nothing.
      exposeHeadRoute: false,
      schema: {
        summary: 'Everything stored about you and your partnerships, as one JSON document (streamed)',
        description: EXPORT_DESCRIPTION,
        operationId: 'exportMe',
        tags: ['me'],
        security: secured('profile:write'),
        response: { 200: ExportSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const pieces = await openExport(deps, callerOf(request).userId)
      // The deadline bounds the request's handling (reading the caller), not how long a large export streams;
      // each read is still bounded by the database's own timeouts, and shutdown still cuts it.
      clearTimeout(request.deadline ?? undefined)
      // Streamed, so no Content-Length: a read that fails halfway destroys the stream, and Fastify then cuts the
      // connection, so the client sees an aborted answer, never a shorter document that parses.
      const body = Readable.from(pieces, { objectMode: false })
      return reply
        .type('application/json; charset=utf-8')
        .header('content-disposition', 'attachment; filename="accord-export.json"')
        .send(body as unknown as z.infer<typeof ExportSchema>)
    }
  )
}

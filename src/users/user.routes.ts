import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { preconditionOf, setEtag } from '../http/etag.ts'
import { authProblems, IfMatchHeaders, problems } from '../http/schemas.ts'
import { toUser, UpdateMeSchema, UserSchema } from './user.schemas.ts'
import { getUser, updateProfile } from './user.service.ts'

export const userRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/v1/me',
    {
      schema: {
        summary: "The caller's profile",
        operationId: 'getMe',
        tags: ['me'],
        security: secured(),
        response: { 200: UserSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const user = await getUser(deps, callerOf(request).userId)
      return setEtag(reply, user.revision).send(toUser(user))
    }
  )

  app.patch(
    '/v1/me',
    {
      schema: {
        summary: "Change the caller's display name or time zone (If-Match)",
        operationId: 'updateMe',
        tags: ['me'],
        security: secured('profile:write'),
        headers: IfMatchHeaders,
        body: UpdateMeSchema,
        response: { 200: UserSchema, ...authProblems, ...problems(412, 413, 415, 428) }
      }
    },
    async (request, reply) => {
      const user = await updateProfile(deps, {
        userId: callerOf(request).userId,
        precondition: preconditionOf(request),
        patch: request.body
      })
      return setEtag(reply, user.revision).send(toUser(user))
    }
  )
}

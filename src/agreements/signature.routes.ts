import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { pageOf } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import {
  DeclineSchema,
  SignatureSchema,
  SignedSchema,
  SignSchema,
  toSignature,
  toVersion,
  VersionParamsSchema,
  VersionSchema
} from './agreement.schemas.ts'
import { getSignature, getVersion } from './agreement.service.ts'
import { declineVersion, revokeSignature, signVersion, withdrawVersion } from './signature.service.ts'
import { agreementStatus } from './version.rules.ts'

const tags = ['signatures']

export const signatureRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const base = '/v1/partnerships/:pid/agreements/:aid/versions/:n'

  app.post(
    `${base}/signatures`,
    {
      schema: {
        summary: 'Sign the exact text you were shown (its contentHash); the last signature activates the version',
        operationId: 'signVersion',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        body: SignSchema,
        response: { 201: SignedSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const { pid, aid, n } = request.params
      const { signature, agreement, version } = await signVersion(deps, {
        partnershipId: pid,
        agreementId: aid,
        number: n,
        userId: callerOf(request).userId,
        contentHash: request.body.contentHash
      })
      return reply
        .code(201)
        .header('location', `/v1/partnerships/${pid}/agreements/${aid}/versions/${n}/signatures/${signature.signerId}`)
        .send({
          ...toSignature(signature, n),
          versionStatus: version.status,
          agreementStatus: agreementStatus(agreement)
        })
    }
  )

  app.get(
    `${base}/signatures`,
    {
      schema: {
        summary: 'Every signature of a version, revoked ones included, with receipts',
        operationId: 'listSignatures',
        tags,
        security: secured('agreements:read'),
        params: VersionParamsSchema,
        response: { 200: pageOf(SignatureSchema), ...authProblems }
      }
    },
    async (request) => {
      const view = await getVersion(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        number: request.params.n,
        userId: callerOf(request).userId
      })
      return { items: view.signatures.map((s) => toSignature(s, view.version.number)), nextCursor: null }
    }
  )

  app.get(
    `${base}/signatures/:signerId`,
    {
      schema: {
        summary: "One partner's signature of a version (their latest, live or revoked), with its receipt",
        operationId: 'getSignature',
        tags,
        security: secured('agreements:read'),
        params: VersionParamsSchema.extend({ signerId: z.uuid() }),
        response: { 200: SignatureSchema, ...authProblems }
      }
    },
    async (request) => {
      const { pid, aid, n, signerId } = request.params
      return toSignature(
        await getSignature(deps, {
          partnershipId: pid,
          agreementId: aid,
          number: n,
          signerId,
          userId: callerOf(request).userId
        }),
        n
      )
    }
  )

  app.delete(
    `${base}/signatures/me`,
    {
      schema: {
        summary: 'Revoke your consent (on the active version the agreement is suspended)',
        operationId: 'revokeSignature',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        response: { 204: z.undefined().describe('Revoked'), ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      await revokeSignature(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        number: request.params.n,
        userId: callerOf(request).userId
      })
      return reply.code(204).send()
    }
  )

  app.post(
    `${base}/decline`,
    {
      schema: {
        summary: 'Decline an open proposal, with a reason',
        operationId: 'declineVersion',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        body: DeclineSchema,
        response: { 200: VersionSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request) => {
      const { pid, aid, n } = request.params
      const userId = callerOf(request).userId
      await declineVersion(deps, {
        partnershipId: pid,
        agreementId: aid,
        number: n,
        userId,
        reason: request.body.reason
      })
      return toVersion(await getVersion(deps, { partnershipId: pid, agreementId: aid, number: n, userId }))
    }
  )

  app.post(
    `${base}/withdraw`,
    {
      schema: {
        summary: 'Withdraw your open proposal',
        operationId: 'withdrawVersion',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        response: { 200: VersionSchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request) => {
      const { pid, aid, n } = request.params
      const userId = callerOf(request).userId
      await withdrawVersion(deps, { partnershipId: pid, agreementId: aid, number: n, userId })
      return toVersion(await getVersion(deps, { partnershipId: pid, agreementId: aid, number: n, userId }))
    }
  )
}

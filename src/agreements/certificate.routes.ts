import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { callerOf, secured } from '../http/auth.ts'
import { negotiate } from '../http/negotiate.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { PAGE_SECURITY_HEADERS } from '../http/security-headers.ts'
import { AgreementParamsSchema } from './agreement.schemas.ts'
import { certificatePage } from './certificate.html.ts'
import { CertificateSchema } from './certificate.schemas.ts'
import { getCertificate } from './certificate.service.ts'

const TYPES = ['application/json', 'text/html'] as const

export const certificateRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/v1/partnerships/:pid/agreements/:aid/certificate',
    {
      schema: {
        summary: 'The certificate of completion: JSON, or a printable page with `Accept: text/html`',
        operationId: 'getAgreementCertificate',
        tags: ['agreements'],
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        response: {
          200: {
            description: 'The certificate, as JSON or as a self-contained printable HTML page (`Accept: text/html`)',
            content: { 'application/json': { schema: CertificateSchema }, 'text/html': { schema: z.string() } }
          },
          ...authProblems,
          ...problems(406)
        }
      }
    },
    async (request, reply) => {
      const type = negotiate(request.headers.accept, TYPES)
      if (type === null) throw new DomainError('NOT_ACCEPTABLE', `the certificate is given as ${TYPES.join(' or ')}`)
      const { pid, aid } = request.params
      const certificate = await getCertificate(deps, {
        partnershipId: pid,
        agreementId: aid,
        userId: callerOf(request).userId
      })
      const vary = reply.getHeader('vary')
      reply.header('vary', vary ? `${String(vary)}, Accept` : 'Accept')
      if (type === 'application/json') return reply.type('application/json; charset=utf-8').send(certificate)
      // A page a browser renders: the page's security headers (its inline style is allowed), not the API's.
      return reply
        .headers(PAGE_SECURITY_HEADERS)
        .type('text/html; charset=utf-8')
        .serializer((s) => s as string)
        .send(certificatePage(certificate) as never)
    }
  )
}

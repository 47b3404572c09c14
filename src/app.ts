import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import underPressure from '@fastify/under-pressure'
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { agendaRoutes } from './agenda/agenda.routes.ts'
import { agreementRoutes } from './agreements/agreement.routes.ts'
import { certificateRoutes } from './agreements/certificate.routes.ts'
import { signatureRoutes } from './agreements/signature.routes.ts'
import { versionRoutes } from './agreements/version.routes.ts'
import { auditRoutes } from './audit/audit.routes.ts'
import { eventStreamRoutes } from './audit/event-stream.routes.ts'
import { calendarRoutes } from './calendar/calendar.routes.ts'
import type { Deps } from './deps.ts'
import { devRoutes } from './dev/dev.routes.ts'
import { DomainError } from './errors.ts'
import { healthRoutes } from './health/health.routes.ts'
import { authentication } from './http/auth.ts'
import { clientErrorHandler } from './http/client-error.ts'
import { idempotency } from './http/idempotency.ts'
import { assertStorableParameters, registerJsonBodyParser } from './http/json-body.ts'
import { lazyRequestLogger, loggerOptions, requestIdOf } from './http/logging.ts'
import { transformObject } from './http/openapi-prune.ts'
import { problemRoutes } from './http/problem.routes.ts'
import { registerProblemHandlers, sendProblem } from './http/problem.ts'
import { addRequestLifecycle } from './http/request-lifecycle.ts'
import { addRouteDefaults, documentRoute } from './http/route-defaults.ts'
import { incidentRoutes } from './incidents/incident.routes.ts'
import { invitationRoutes } from './invitations/invitation.routes.ts'
import { keyRoutes } from './keys/key.routes.ts'
import { metricsRoutes } from './metrics/metrics.routes.ts'
import { erasureRoutes } from './orchestration/erasure.routes.ts'
import { membershipRoutes } from './orchestration/membership.routes.ts'
import { partnershipRoutes } from './partnerships/partnership.routes.ts'
import { exportRoutes } from './privacy/export.routes.ts'
import { reviewRoutes } from './reviews/review.routes.ts'
import { userRoutes } from './users/user.routes.ts'
import { ensureUser, erasedAccount, predatesAccount } from './users/user.service.ts'
import { webhookRoutes } from './webhooks/webhook.routes.ts'

export const BODY_LIMIT = 64 * 1024
export const API_VERSION = '0.1.0'

export interface BuildOptions {
  /** pino options, or false for a silent app (tests). Defaults to the configured level. */
  logger?: FastifyServerOptions['logger'] | false
}

/**
 * Builds the Accord app on the given dependencies; never listens (server.ts does).
 * The order below is the order requests meet things: request id and security
 * headers, CORS, load shedding, authentication (onRequest), rate limiting per
 * caller (preValidation), validation, idempotency (preHandler), the route.
 */
export async function buildApp(deps: Deps, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { config } = deps
  const app = Fastify({
    logger: options.logger === undefined ? loggerOptions(config.logLevel) : options.logger,
    genReqId: requestIdOf,
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      disableRequestLogging: (request) =>
        request.url === '/healthz' || request.url === '/readyz' || request.url === '/metrics'
    }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: config.requestTimeoutMs,
    // What Node's HTTP parser refuses (headers over 16 KiB, not HTTP, too slow): a problem too, not plain JSON.
    clientErrorHandler: clientErrorHandler(config.publicUrl),
    // While closing, requests get our own 503 problem (below), not Fastify's plain JSON one.
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Router-level failures (a path segment over maxParamLength, a malformed %-escape) are problems too, not Fastify's plain JSON.
    frameworkErrors: (err, request, reply) => {
      // These answers skip every hook: the headers every answer carries are set here too.
      setStandardHeaders(request, reply)
      sendProblem(
        config.publicUrl,
        request,
        reply,
        new DomainError(
          'BAD_REQUEST',
          err.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'a path segment is longer than 200 characters'
            : 'the URL is not valid'
        )
      )
    }
  }).withTypeProvider<ZodTypeProvider>()

  app.setChildLoggerFactory(lazyRequestLogger)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.removeContentTypeParser(['text/plain'])
  registerJsonBodyParser(app)
  registerProblemHandlers(app, config.publicUrl)
  addRouteDefaults(app)

  const setStandardHeaders = addRequestLifecycle(app, config)
  // One observation per answer, labelled by the route's template (an unmatched URL has none: one shared label).
  // Fastify measured the time already (routing to the answer's end); no allocation once a route has been seen.
  const { metrics } = deps
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })

  // Without CORS_ORIGINS no browser origin is allowed, and the plugin is not registered at all: its hook would
  // otherwise copy its options and read the route's options on every request only to do nothing (a preflight
  // then gets the 404 of any unknown route, as it did from the plugin).
  if (config.corsOrigins.length > 0)
    await app.register(cors, {
      origin: [...config.corsOrigins],
      credentials: false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'authorization',
        'content-type',
        'if-match',
        'if-none-match',
        'idempotency-key',
        'last-event-id',
        'x-request-id'
      ],
      exposedHeaders: [
        'etag',
        'location',
        'retry-after',
        'x-request-id',
        'idempotent-replayed',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset'
      ],
      maxAge: 600
    })
  // Load shedding: while the event loop's mean delay over the last second is past OVERLOAD_EVENT_LOOP_DELAY_MS,
  // every request is answered 503 `overloaded` with Retry-After at once, instead of joining the queue.
  if (config.overloadEventLoopDelayMs > 0)
    await app.register(underPressure, {
      maxEventLoopDelay: config.overloadEventLoopDelayMs,
      retryAfter: 5,
      pressureHandler: async () => {
        throw new DomainError('OVERLOADED', 'the service is overloaded; retry shortly')
      }
    })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Accord API',
        version: API_VERSION,
        description:
          'Versioned agreements between partners: boundaries with agreed consequences, review cadences and sign-offs. Every error is RFC 9457 problem+json.',
        license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' }
      },
      // Relative: /docs's "Try it out" calls the origin the page came from (whatever port, host name or proxy), within
      // its CSP's connect-src 'self'; and the served document is the committed one whatever PUBLIC_URL is.
      servers: [{ url: '/', description: 'The server this document is served from' }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'me', description: 'The caller' },
        { name: 'partnerships', description: 'Shared spaces of partners and observers' },
        { name: 'invitations', description: 'Joining a partnership' },
        {
          name: 'agreements',
          description: 'Versioned agreements: boundaries with agreed consequences and a review cadence'
        },
        { name: 'versions', description: 'Immutable texts of an agreement: drafts, proposals, diffs' },
        { name: 'signatures', description: 'Consent bound to a content hash, with verifiable receipts' },
        { name: 'reviews', description: 'Scheduled and early revisits: keep, revise or retire' },
        {
          name: 'incidents',
          description:
            'Between reviews: crossed boundaries and the consequences agreed for them, appreciations, insights and the check-in agenda'
        },
        { name: 'calendar', description: 'A private iCalendar feed of upcoming reviews' },
        { name: 'audit', description: 'The append-only, hash-chained log of every change' },
        {
          name: 'webhooks',
          description: "Signed deliveries of the events to partners' own services (Standard Webhooks)"
        },
        { name: 'keys', description: 'Public keys for verifying receipts and checkpoints' },
        { name: 'development', description: 'Local development helpers' },
        { name: 'operations', description: 'Health, readiness and the error catalog' }
      ]
    },
    transform: documentRoute,
    transformObject
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true, persistAuthorization: false } })

  await app.register(authentication, {
    ...deps,
    provision: async (principal) => {
      const { user, erasedAt } = await ensureUser(deps, principal)
      return { userId: user.id, erasedAt }
    },
    admit: (principal, known) => {
      if (predatesAccount(principal, known.erasedAt, deps.now())) throw erasedAccount()
    }
  })
  await app.register(rateLimit, {
    global: true,
    hook: 'preValidation',
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.caller?.userId ?? `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new DomainError('RATE_LIMITED', `more than ${context.max} requests in a minute; retry after ${context.after}`)
  })
  await app.register(idempotency, deps)
  // A %00 in a query or path decodes to NUL: refused like one in a body, before any schema or query sees it.
  app.addHook('preValidation', (request, _reply, done) => {
    try {
      assertStorableParameters(request)
    } catch (err) {
      return done(err as Error)
    }
    done()
  })

  await app.register(healthRoutes, { deps })
  await app.register(metricsRoutes, { deps })
  await app.register(problemRoutes)
  await app.register(keyRoutes, { deps })
  await app.register(userRoutes, { deps })
  await app.register(partnershipRoutes, { deps })
  await app.register(invitationRoutes, { deps })
  await app.register(membershipRoutes, { deps })
  await app.register(erasureRoutes, { deps })
  await app.register(agreementRoutes, { deps })
  await app.register(versionRoutes, { deps })
  await app.register(signatureRoutes, { deps })
  await app.register(certificateRoutes, { deps })
  await app.register(reviewRoutes, { deps })
  await app.register(incidentRoutes, { deps })
  await app.register(agendaRoutes, { deps })
  await app.register(calendarRoutes, { deps })
  await app.register(auditRoutes, { deps })
  await app.register(eventStreamRoutes, { deps })
  await app.register(webhookRoutes, { deps })
  await app.register(exportRoutes, { deps })
  if (config.auth.devTokens) await app.register(devRoutes, { deps })

  return app
}

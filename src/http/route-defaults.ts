import type { FastifyInstance, RouteOptions } from 'fastify'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { IdempotencyKeyHeaders, problems } from './schemas.ts'

type Schema = {
  hide?: boolean
  security?: Array<Record<string, string[]>>
  params?: unknown
  querystring?: unknown
  body?: unknown
  headers?: z.ZodObject
  response?: Record<number, unknown>
}

/**
 * The answers any route may give whatever it does, added to every route's
 * schema as it is registered, so the document says what the server does
 * without each route restating it (a test holds every answer the suite sees to
 * the document): 429 and 503 anywhere; 401 on a secured route, 403 where it
 * needs a scope; 400 wherever input is parsed, 404 wherever a path names
 * something; 413 and 415 wherever a body may come; on an authenticated POST the
 * `Idempotency-Key` header and its 409 and 422.
 */
export function addRouteDefaults(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    route.schema ??= {}
    const schema = route.schema as Schema
    if (schema.hide === true) return
    const methods = [route.method].flat()
    const secured = schema.security === undefined || schema.security.length > 0
    const scoped = (schema.security?.[0]?.bearerAuth ?? []).length > 0
    // Fastify reads a body sent with any of these, even to a route that takes none (too large: 413, not JSON: 415).
    const hasBody = methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH' || m === 'DELETE')
    const statuses = [429, 503]
    if (secured) statuses.push(401)
    if (scoped) statuses.push(403)
    if (schema.params !== undefined || schema.querystring !== undefined || hasBody) statuses.push(400)
    if (schema.params !== undefined) statuses.push(404)
    if (hasBody) statuses.push(413, 415)
    if (secured && methods.includes('POST')) statuses.push(409, 422)
    schema.response ??= {}
    const response = schema.response
    const missing = statuses.filter((s) => response[s] === undefined)
    Object.assign(response, problems(...missing))
  })
}

// The header in the document, as zod writes it. It is checked by the idempotency hook (which reads it anyway),
// not by a headers schema: that would parse every header of every POST (a few percent of a sign-off's CPU).
const idempotencyKeyHeader = (
  z.toJSONSchema(z.object(IdempotencyKeyHeaders), { io: 'input' }) as { properties: Record<string, unknown> }
).properties['idempotency-key']

/**
 * The document's transform of each route (fastify-type-provider-zod's), plus
 * the `Idempotency-Key` header every authenticated POST reads.
 */
export const documentRoute: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input)
  const schema = input.schema as Schema | undefined
  const methods = [input.route.method].flat()
  const secured = schema?.security === undefined || schema.security.length > 0
  if (!secured || !methods.includes('POST') || schema?.hide === true) return out
  const documented = out.schema as { headers?: { type?: string; properties?: Record<string, unknown> } }
  const headers = documented.headers ?? { type: 'object', properties: {} }
  documented.headers = { ...headers, properties: { ...headers.properties, 'idempotency-key': idempotencyKeyHeader } }
  return out
}

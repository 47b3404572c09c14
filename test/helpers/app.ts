import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import postgres from 'postgres'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { createDb, type Database } from '../../src/db/client.ts'
import { assembleDeps, type Deps } from '../../src/deps.ts'
import { mintDevToken } from '../../src/dev/dev.service.ts'
import { loggerOptions } from '../../src/http/logging.ts'

/** The suite runs on PGlite unless TEST_DATABASE_URL names a PostgreSQL server (each file gets its own database). */
export const PG_URL = process.env.TEST_DATABASE_URL
export const onPostgres = PG_URL !== undefined && PG_URL !== ''
/**
 * Behind a transaction pooler (.ci/run's PgBouncer pass, where TEST_DATABASE_URL is PgBouncer): PostgreSQL itself,
 * where every instance LISTENs for wake-ups on its file's database (DATABASE_LISTEN_URL).
 */
const LISTEN_URL = process.env.TEST_DATABASE_LISTEN_URL || undefined
/** The client settings of the run (DATABASE_PREPARE=false behind PgBouncer) that reach every instance a test starts. */
const RUN_SETTINGS = ['DATABASE_PREPARE', 'DATABASE_STATEMENT_TIMEOUT_MS'] as const

/** The environment of an Accord instance on `url` (a file's database): DATABASE_URL and what goes with it in this run. */
export function postgresEnv(url: string): Record<string, string> {
  const env: Record<string, string> = { DATABASE_URL: url }
  if (LISTEN_URL) {
    const listen = new URL(LISTEN_URL)
    listen.pathname = new URL(url).pathname
    env.DATABASE_LISTEN_URL = listen.toString()
  }
  for (const name of RUN_SETTINGS) {
    const value = process.env[name]
    if (value) env[name] = value
  }
  return env
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A clock tests can move; it runs with real time from wherever it was set. */
export class TestClock {
  offsetMs = 0
  now = (): Date => new Date(Date.now() + this.offsetMs)
  advance(ms: number): void {
    this.offsetMs += ms
  }
}

export interface TestApp {
  app: FastifyInstance
  deps: Deps
  database: Database
  clock: TestClock
  /** Every log line the app wrote, as written (only with `captureLogs`). */
  logs: string[]
  /** A token for `sub` minted by the service's own issuer. */
  token(sub: string, options?: { name?: string; scope?: string }): Promise<string>
  /** app.inject with an optional bearer token and JSON body. */
  request(options: Omit<InjectOptions, 'body'> & { token?: string; body?: unknown }): Promise<LightMyRequestResponse>
}

type Operation = { responses?: Record<string, { content?: Record<string, unknown> }> }
const api = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>
}

/**
 * What an answer does that the API document does not say: a status the
 * operation does not list, or a content type it does not list for that status.
 * Null when documented, or when the route is not in the document (test-only routes, /docs).
 */
export function undocumented(
  method: string,
  route: string | undefined,
  status: number,
  contentType: string | undefined
): string | null {
  if (route === undefined || method === 'HEAD' || method === 'OPTIONS') return null
  const operation = api.paths[route.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()]
  if (operation === undefined) return null
  const documented = operation.responses?.[String(status)]
  if (documented === undefined) return `${method} ${route} answered ${status}, which it does not document`
  const type = contentType?.split(';')[0]?.trim()
  const types = Object.keys(documented.content ?? {})
  if (type === undefined || type === '')
    return types.length === 0 || status === 204
      ? null
      : `${method} ${route} ${status} had no content type (documented: ${types.join(', ')})`
  if (!types.includes(type))
    return `${method} ${route} ${status} was ${type} (documented: ${types.join(', ') || 'no body'})`
  return null
}

/** Creates an empty PostgreSQL database for one test file and drops it afterwards. */
export async function freshPostgresUrl(t: Teardown): Promise<string> {
  const admin = postgres(PG_URL!, { max: 1, onnotice: () => {} })
  const name = `accord_t_${process.pid}_${randomBytes(4).toString('hex')}`
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  t.teardown(async () => {
    const a = postgres(PG_URL!, { max: 1, onnotice: () => {} })
    await a.unsafe(`drop database if exists ${name} with (force)`)
    await a.end()
  })
  const url = new URL(PG_URL!)
  url.pathname = `/${name}`
  return url.toString()
}

/** Boots a migrated database (one per test file) and builds the app on it. */
export async function buildTestApp(
  t: Teardown,
  options: {
    env?: Record<string, string>
    databaseUrl?: string
    database?: Database
    captureLogs?: boolean
    allowInternalErrors?: boolean
    clock?: TestClock
    register?: (app: FastifyInstance, deps: Deps) => Promise<void> | void
  } = {}
): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (options.database || !onPostgres ? undefined : await freshPostgresUrl(t))
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: ':memory:',
    RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_FAILURES_PER_MINUTE: '100000',
    // No load shedding: a loaded CI machine (or PGlite working synchronously in-process) must not turn a test's
    // request into a 503. test/http/conventions.test.ts sheds on purpose.
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
    ...(databaseUrl ? postgresEnv(databaseUrl) : {}),
    ...options.env
  })
  const clock = options.clock ?? new TestClock()
  const database = options.database ?? (await createDb(config.database))
  await database.migrate()
  const deps = await assembleDeps(config, database, clock.now)
  const logs: string[] = []
  // The production logger configuration, at trace level, written to memory.
  const logger = options.captureLogs
    ? {
        ...(loggerOptions('trace') as object),
        stream: new Writable({
          write(chunk, _encoding, done) {
            logs.push(String(chunk))
            done()
          }
        })
      }
    : false
  const app = await buildApp(deps, { logger })
  if (options.register) await options.register(app, deps)
  // Every answer any test provokes is held to the API document: status and content type.
  const surprises = new Set<string>()
  app.addHook('onResponse', (request, reply, done) => {
    if (options.allowInternalErrors && reply.statusCode === 500) return done()
    const surprise = undocumented(
      request.method,
      request.routeOptions.url,
      reply.statusCode,
      reply.getHeader('content-type') as string | undefined
    )
    if (surprise !== null) surprises.add(surprise)
    done()
  })
  await app.ready()
  t.teardown(async () => {
    await app.close()
    if (!options.database) await database.close()
    if (surprises.size > 0)
      throw new Error(
        `answers the API document does not describe (openapi/openapi.json):\n  ${[...surprises].join('\n  ')}`
      )
  })
  return {
    app,
    deps,
    database,
    clock,
    logs,
    async token(sub, o = {}) {
      return (await mintDevToken(deps, { sub, ...o })).accessToken
    },
    async request({ token, body, headers, ...rest }) {
      const h: Record<string, string> = { ...(headers as Record<string, string> | undefined) }
      if (token) h.authorization = `Bearer ${token}`
      const opts: InjectOptions = { ...rest, headers: h }
      if (body !== undefined) opts.payload = body as InjectOptions['payload']
      return app.inject(opts)
    }
  }
}

import { randomBytes } from 'node:crypto'
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

interface Teardown { teardown(fn: () => unknown): void }

/** A clock tests can move; it runs with real time from wherever it was set. */
export class TestClock {
  offsetMs = 0
  now = (): Date => new Date(Date.now() + this.offsetMs)
  advance (ms: number): void { this.offsetMs += ms }
}

export interface TestApp {
  app: FastifyInstance
  deps: Deps
  database: Database
  clock: TestClock
  /** Every log line the app wrote, as written (only with `captureLogs`). */
  logs: string[]
  /** A token for `sub` minted by the service's own issuer. */
  token(sub: string, options?: { name?: string, scope?: string }): Promise<string>
  /** app.inject with an optional bearer token and JSON body. */
  request(options: Omit<InjectOptions, 'body'> & { token?: string, body?: unknown }): Promise<LightMyRequestResponse>
}

/** Creates an empty PostgreSQL database for one test file and drops it afterwards. */
export async function freshPostgresUrl (t: Teardown): Promise<string> {
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
export async function buildTestApp (t: Teardown, options: { env?: Record<string, string>, databaseUrl?: string, database?: Database, captureLogs?: boolean, register?: (app: FastifyInstance, deps: Deps) => Promise<void> | void } = {}): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (options.database || !onPostgres ? undefined : await freshPostgresUrl(t))
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: ':memory:',
    RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_FAILURES_PER_MINUTE: '100000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...options.env
  })
  const clock = new TestClock()
  const database = options.database ?? await createDb(config.database)
  await database.migrate()
  const deps = await assembleDeps(config, database, clock.now)
  const logs: string[] = []
  // The production logger configuration, at trace level, written to memory.
  const logger = options.captureLogs ? { ...(loggerOptions('trace') as object), stream: new Writable({ write (chunk, _encoding, done) { logs.push(String(chunk)); done() } }) } : false
  const app = await buildApp(deps, { logger })
  if (options.register) await options.register(app, deps)
  await app.ready()
  t.teardown(async () => {
    await app.close()
    if (!options.database) await database.close()
  })
  return {
    app,
    deps,
    database,
    clock,
    logs,
    async token (sub, o = {}) {
      return (await mintDevToken(deps, { sub, ...o })).accessToken
    },
    async request ({ token, body, headers, ...rest }) {
      const h: Record<string, string> = { ...(headers as Record<string, string> | undefined) }
      if (token) h.authorization = `Bearer ${token}`
      const opts: InjectOptions = { ...rest, headers: h }
      if (body !== undefined) opts.payload = body as InjectOptions['payload']
      return app.inject(opts)
    }
  }
}

/** Asserts an RFC 9457 response and returns its body. */
export function problemOf (res: LightMyRequestResponse): { status: number, code: string, title: string, detail: string, type: string, errors?: Array<{ path: string, message: string }> } {
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(`expected problem+json, got ${String(res.headers['content-type'])} (${res.statusCode}): ${res.body.slice(0, 200)}`)
  }
  return res.json()
}

import { readFileSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { createDb, migrationsFolder } from '../../src/db/client.ts'
import { buildTestApp, freshPostgresUrl, onPostgres, postgresEnv } from '../helpers/app.ts'

// Accord behind a transaction pooler (README: Behind PgBouncer). What needs a session of its own does not go
// through one: LISTEN has its own URL, and the migrations' lock is a transaction's. The last test runs only in
// .ci/run's PgBouncer pass (TEST_PGBOUNCER_URL) and proves that pass really went through PgBouncer.
const PGBOUNCER_URL = process.env.TEST_PGBOUNCER_URL || undefined
const onPostgresOnly = { skip: onPostgres ? false : 'needs PostgreSQL (TEST_DATABASE_URL)' }

t.test("DATABASE_LISTEN_URL is the LISTEN connection's URL: DATABASE_URL's unless set, never without it", async (t) => {
  const url = 'postgres://accord@pgbouncer:6432/accord'
  const direct = 'postgres://accord@postgres:5432/accord'
  const listenUrl = (env: Record<string, string>) => {
    const database = loadConfig({ DATA_DIR: ':memory:', ...env }).database
    return database.kind === 'postgres' ? database.listenUrl : null
  }
  t.equal(listenUrl({ DATABASE_URL: url }), url, 'unset: the pool URL')
  t.equal(listenUrl({ DATABASE_URL: url, DATABASE_LISTEN_URL: direct }), direct, 'set: its own')
  t.throws(() => loadConfig({ DATABASE_LISTEN_URL: direct }), { name: 'ConfigError', message: /DATABASE_LISTEN_URL/ })
  t.throws(() => loadConfig({ DATABASE_URL: url, DATABASE_LISTEN_URL: 'http://x' }), ConfigError)
})

t.test('DATABASE_PREPARE=false: no statement is prepared by name on the connection', onPostgresOnly, async (t) => {
  const ctx = await buildTestApp(t, { env: { DATABASE_PREPARE: 'false', DATABASE_POOL_MAX: '1' } })
  t.equal(ctx.deps.config.database.kind === 'postgres' && ctx.deps.config.database.prepare, false)
  // A drizzle query with a parameter: a named prepared statement when DATABASE_PREPARE is true (test/db/driver.test.ts).
  await ctx.database.db.execute(sql`select ${'pooler'}::text as word from users limit 1`)
  const [row] = await ctx.database.rows<{ n: number }>(sql`select count(*)::int as n from pg_prepared_statements`)
  t.equal(row?.n, 0, 'none: PgBouncer before 1.21 would send the next Bind to another server connection')
})

t.test('instances migrating a fresh database at once apply every migration once', onPostgresOnly, async (t) => {
  const url = await freshPostgresUrl(t)
  const config = loadConfig({ DATA_DIR: ':memory:', ...postgresEnv(url) }).database
  const instances = await Promise.all([1, 2, 3].map(() => createDb(config)))
  t.teardown(() => Promise.all(instances.map((d) => d.close())))
  await Promise.all(instances.map((d) => d.migrate()))
  const journal = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8')) as { entries: unknown[] }
  const [row] = await instances[0]!.rows<{ n: number; hashes: number }>(
    sql`select count(*)::int as n, count(distinct hash)::int as hashes from drizzle.__drizzle_migrations`
  )
  t.same(row, { n: journal.entries.length, hashes: journal.entries.length }, 'one row per migration')
  for (const d of instances) t.ok(await d.ready(), 'every instance is ready')
  await instances[1]!.migrate()
  t.pass('migrating again applies nothing and fails nothing')
})

t.test(
  'the PgBouncer pass goes through PgBouncer in transaction mode, and LISTENs on PostgreSQL itself',
  { skip: PGBOUNCER_URL ? false : 'runs in .ci/run with PgBouncer (TEST_PGBOUNCER_URL)' },
  async (t) => {
    const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '1' } })
    const database = ctx.deps.config.database
    if (database.kind !== 'postgres') return t.fail('the PgBouncer pass runs on PostgreSQL')
    const [named] = await ctx.database.rows<{ name: string }>(sql`select current_database() as name`)
    const name = named!.name

    // PgBouncer's admin console lists this file's database among its pools and clients (simple protocol only).
    const adminUrl = new URL(PGBOUNCER_URL!)
    adminUrl.pathname = '/pgbouncer'
    const admin = postgres(adminUrl.toString(), { max: 1, fetch_types: false, onnotice: () => {} })
    t.teardown(() => admin.end({ timeout: 1 }))
    const pools = await admin.unsafe('show pools')
    const pool = pools.find((p) => p.database === name)
    t.ok(pool, `PgBouncer has a pool for ${name}`)
    t.equal(pool?.pool_mode, 'transaction', 'in transaction mode')
    const clients = await admin.unsafe('show clients')
    t.ok(
      clients.some((c) => c.database === name),
      "the app's connection is one of PgBouncer's clients"
    )

    // Transaction pooling itself: while another client's transaction holds the server connection the app's
    // one connection last used, the app's next statement runs on another. Straight to PostgreSQL, a client
    // connection is one backend for life.
    const pid = async () => (await ctx.database.rows<{ pid: number }>(sql`select pg_backend_pid() as pid`))[0]!.pid
    const other = postgres(database.url, { max: 1, prepare: false, onnotice: () => {} })
    t.teardown(() => other.end({ timeout: 1 }))
    const seen = new Set([await pid()])
    for (let round = 0; round < 5 && seen.size < 2; round++) {
      await other.begin(async (tx) => {
        await tx`select pg_backend_pid()`
        seen.add(await pid())
      })
    }
    t.ok(seen.size >= 2, `the app's one client connection ran on several server backends (${[...seen].join(', ')})`)

    // LISTEN goes straight to PostgreSQL: the listen URL is not PgBouncer's.
    const listen = new URL(database.listenUrl)
    const through = new URL(database.url)
    t.not(`${listen.host}`, `${through.host}`, `LISTEN on ${listen.host}, not on PgBouncer (${through.host})`)
    t.equal(listen.pathname, through.pathname, 'on the same database')
  }
)

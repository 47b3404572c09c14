import { eq, sql } from 'drizzle-orm'
import t from 'tap'
import { type DbOrTx, PGLITE_SHARED_BUFFERS_MB } from '../../src/db/client.ts'
import { execute, onPglite, prepared } from '../../src/db/driver.ts'
import { users } from '../../src/users/user.sql.ts'
import { buildTestApp, onPostgres } from '../helpers/app.ts'

// src/db/driver.ts reaches into drizzle's and the drivers' internals for measured gains (bench/README.md). Each
// assumption it makes is checked here, on the driver this pass runs, so a new drizzle or driver that breaks one
// fails this file instead of a request.
const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '1' } })
const { db } = ctx.deps

t.test('every handle, the pool and a transaction, carries its session and the driver client under it', async (t) => {
  const clientOf = (h: DbOrTx) => (h as unknown as { session?: { client?: Record<string, unknown> } }).session?.client
  t.ok(clientOf(db), 'db.session.client')
  t.equal(onPglite(db), !onPostgres, 'onPglite() tells the drivers apart on the pool')
  await db.transaction(async (tx) => {
    const client = clientOf(tx)
    t.ok(client, 'tx.session.client')
    t.equal(onPglite(tx), !onPostgres, 'onPglite() tells the drivers apart on a transaction')
    t.type(
      onPostgres ? client!.unsafe : client!.query,
      'function',
      onPostgres ? 'postgres.js: unsafe()' : 'PGlite: query()'
    )
  })
})

t.test(
  "execute() runs raw SQL on the handle's own connection, and prepared() binds a built statement to it",
  async (t) => {
    const [user] = await db
      .insert(users)
      .values({
        issuer: 'driver-test',
        subject: 'a',
        displayName: 'Before',
        timezone: 'UTC',
        createdAt: new Date(),
        updatedAt: new Date()
      })
      .returning()
    const byId = (h: DbOrTx) =>
      prepared(h, 'driver_test_user', (h) =>
        h
          .select()
          .from(users)
          .where(eq(users.id, sql.placeholder('id')))
          .prepare('driver_test_user')
      )
    await db
      .transaction(async (tx) => {
        await tx.update(users).set({ displayName: 'Inside' }).where(eq(users.id, user!.id))
        const [raw] = await execute(tx, 'select display_name from users where id = $1', [user!.id])
        t.equal(raw!.display_name, 'Inside', "execute() sees the transaction's own uncommitted write")
        const [row] = await byId(tx).execute({ id: user!.id })
        t.equal(row!.displayName, 'Inside', 'so does the prepared statement run on the transaction')
        throw new Error('roll back')
      })
      .catch(() => {})
    const [after] = await byId(db).execute({ id: user!.id })
    t.equal(after!.displayName, 'Before', 'and on the pool, after the rollback, the committed value')
  }
)

t.test(
  "drizzle's queries run as named prepared statements: on PostgreSQL the patch of PostgresJsSession.prepareQuery, on PGlite src/db/pglite-statements.ts",
  async (t) => {
    if (onPostgres) {
      const { PostgresJsSession } = await import('drizzle-orm/postgres-js/session')
      const prepareQuery = (
        PostgresJsSession.prototype as unknown as { prepareQuery?: (...args: unknown[]) => unknown }
      ).prepareQuery
      t.type(prepareQuery, 'function', 'drizzle still has PostgresJsSession.prototype.prepareQuery')
    }
    await db.select().from(users).where(eq(users.subject, 'driver-test-named')).limit(1)
    await db.transaction((tx) => tx.select().from(users).where(eq(users.issuer, 'driver-test-named-tx')).limit(1))
    await execute(db, 'select count(*) from users where display_name = $1', ['driver-test-named-raw'])
    const named = async (like: string) =>
      (
        await ctx.database.rows<{ n: number }>(
          sql`select count(*)::int as n from pg_prepared_statements where statement like ${like}`
        )
      )[0]!.n
    t.ok(
      (await named('%"subject" = $1%')) > 0,
      'the query drizzle built is a prepared statement on the (one) connection'
    )
    t.ok((await named('%"issuer" = $1%')) > 0, 'so is one run inside a transaction')
    t.ok((await named('%display_name = $1%')) > 0, 'and one run through execute()')
  }
)

t.test(
  'every way work starts on the pool is counted (countingClient): the builder, prepared(), execute(), transactions',
  async (t) => {
    t.same(ctx.database.pool(), { max: 1, inUse: 0, waiting: 0 }, 'idle: the one connection is free')
    const held = Promise.withResolvers<void>()
    const inside = Promise.withResolvers<void>()
    const holder = db.transaction(async (tx) => {
      await execute(tx, 'select 1', [])
      inside.resolve()
      await held.promise
    })
    await inside.promise
    t.same(ctx.database.pool(), { max: 1, inUse: 1, waiting: 0 }, 'a transaction holds the connection')
    const byId = prepared(db, 'driver_test_count', (h) =>
      h
        .select()
        .from(users)
        .where(eq(users.id, sql.placeholder('id')))
        .prepare('driver_test_count')
    )
    const waiting = [
      db.select().from(users).limit(1),
      byId.execute({ id: '01900000-0000-7000-8000-000000000000' }),
      execute(db, 'select 1', []),
      db.transaction(async (tx) => tx.select().from(users).limit(1))
    ].map((work) => Promise.resolve(work))
    await new Promise((resolve) => setImmediate(resolve))
    t.same(ctx.database.pool(), { max: 1, inUse: 1, waiting: 4 }, 'the four others wait, each counted once')
    held.resolve()
    await Promise.all([holder, ...waiting])
    t.same(ctx.database.pool(), { max: 1, inUse: 0, waiting: 0 }, 'all settled: nothing counted any more')
  }
)

t.test(
  "on PGlite, PostgreSQL's shared buffers are bounded, since PGlite's WebAssembly memory never shrinks",
  { skip: onPostgres ? 'PGlite only: a server sizes its own' : false },
  async (t) => {
    const [row] = await ctx.database.rows<{ shared_buffers: string }>(sql`show shared_buffers`)
    t.equal(row!.shared_buffers, `${PGLITE_SHARED_BUFFERS_MB}MB`, 'not PGlite’s default of 128MB')
  }
)

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type SQL, sql } from 'drizzle-orm'
import type { TransactionSql } from 'postgres'
import type { Config } from '../config.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { countingClient, preparedByDefault } from './driver.ts'
import type { Db } from './handles.ts'
import * as schema from './schema.ts'
import { createWakeups, EVENTS_CHANNEL, registerWakeups } from './wakeups.ts'

export type { Db, DbOrTx, Schema, Tx } from './handles.ts'

/** How busy the pool is now (for /metrics), as counted by `countingClient` (db/driver.ts explains the count). */
export interface PoolStats {
  /** Connections this process may hold: DATABASE_POOL_MAX, or 1 on PGlite. */
  readonly max: number
  /** Connections running a statement or holding a transaction for us. */
  readonly inUse: number
  /** Statements and transactions waiting for a connection. */
  readonly waiting: number
}

export interface Database {
  readonly db: Db
  readonly kind: 'pglite' | 'postgres'
  /** The pool's activity now: cheap, no query. */
  pool(): PoolStats
  /** Runs a raw statement and returns its rows, whichever driver is underneath. */
  rows<T = Record<string, unknown>>(query: SQL): Promise<T[]>
  /** Closes every connection; queries still running get up to `timeoutMs` (PostgreSQL) before they are cut. */
  close(timeoutMs?: number): Promise<void>
  /** Applies pending migrations; safe to call from several instances at once. */
  migrate(): Promise<void>
  /** True when the database answers and every migration in migrations/ is applied. */
  ready(): Promise<boolean>
}

/**
 * PostgreSQL's shared buffers on PGlite: 128 MB by default there, as on a server. They live in PGlite's
 * WebAssembly memory, which never shrinks; 16 MB held the bench's peak RSS to 285 MB against 306 with 32, at the
 * same rates (bench/README.md).
 */
export const PGLITE_SHARED_BUFFERS_MB = 16

/** migrations/ at the project's root: one level up from the bundle dist/server.js (`npm start`), two from this file in src/db/. */
export const migrationsFolder = fileURLToPath(
  new URL(import.meta.url.endsWith('/dist/server.js') ? '../migrations' : '../../migrations', import.meta.url)
)
const MIGRATION_LOCK = 7_316_402_113 // pg_advisory_lock key: one migrator at a time across instances

function expectedMigrations(): number {
  const journal = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8')) as { entries: unknown[] }
  return journal.entries.length
}

function rowsOf<T>(result: unknown): T[] {
  // postgres.js returns an array-like RowList; PGlite returns { rows }.
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

async function countApplied(database: Pick<Database, 'rows'>): Promise<number> {
  const [row] = await database.rows<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`)
  return row?.n ?? 0
}

/**
 * drizzle's migrator, as one transaction's work on PostgreSQL: the same bookkeeping (drizzle.__drizzle_migrations,
 * which PGlite's drizzle migrator and `ready()` read), but the last applied migration is read inside the
 * transaction, after the lock, where drizzle's own migrator reads it before opening its transaction.
 */
async function applyMigrations(tx: TransactionSql): Promise<void> {
  const { readMigrationFiles } = await import('drizzle-orm/migrator')
  await tx`create schema if not exists drizzle`
  await tx`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`
  const [last] = await tx<
    { created_at: string }[]
  >`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`
  for (const migration of readMigrationFiles({ migrationsFolder })) {
    if (last && Number(last.created_at) >= migration.folderMillis) continue
    for (const statement of migration.sql) await tx.unsafe(statement)
    await tx`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`
  }
}

function poolStats(max: number, inFlight: number): PoolStats {
  const inUse = Math.min(inFlight, max)
  return { max, inUse, waiting: inFlight - inUse }
}

/**
 * Opens the database the configuration names: PostgreSQL through postgres.js when
 * DATABASE_URL is set, else embedded PGlite (persisted in DATA_DIR, or in memory).
 * Nothing connects at import time; drivers are loaded on demand.
 */
export async function createDb(config: Config['database'], options: { holderUrl?: string } = {}): Promise<Database> {
  const expected = expectedMigrations()
  if (config.kind === 'postgres') {
    const { default: postgres } = await import('postgres')
    const { drizzle } = await import('drizzle-orm/postgres-js')
    if (config.prepare) await preparedByDefault()
    const options = {
      max: config.poolMax,
      connect_timeout: config.connectTimeoutS,
      idle_timeout: 60,
      max_lifetime: 60 * 30,
      // Between failed connection attempts: at least 100 ms (no reconnect storm), at most 2 s (fail fast in an outage).
      backoff: (attempt: number) => Math.min(0.1 * 2 ** attempt, 2),
      prepare: config.prepare,
      onnotice: () => {},
      connection:
        config.statementTimeoutMs > 0
          ? {
              statement_timeout: config.statementTimeoutMs,
              idle_in_transaction_session_timeout: config.statementTimeoutMs * 3
            }
          : {}
    }
    const client = postgres(config.url, options)
    const counting = countingClient(client, 'postgres')
    const db = drizzle({ client: counting.client, schema, casing: 'snake_case' }) as unknown as Db
    // LISTEN needs a session of its own, which a transaction pooler (PgBouncer) does not keep: DATABASE_LISTEN_URL
    // then names PostgreSQL itself. This client only ever opens its one listening connection.
    const listener = config.listenUrl === config.url ? client : postgres(config.listenUrl, options)
    // Wake-ups between instances: NOTIFY on the pool after commit, LISTEN on postgres.js's own dedicated connection
    // (opened when this instance first has a stream subscriber; it reconnects and listens again by itself).
    registerWakeups(
      db,
      createWakeups({
        notify: (pids) =>
          client.unsafe('select pg_notify($1, p) from jsonb_array_elements_text($2::jsonb) as p', [
            EVENTS_CHANNEL,
            JSON.stringify(pids)
          ]),
        listen: (onWake, onListen) => listener.listen(EVENTS_CHANNEL, onWake, onListen)
      })
    )
    const database: Database = {
      db,
      kind: 'postgres',
      pool: () => poolStats(config.poolMax, counting.inFlight()),
      rows: async (query) => rowsOf(await db.execute(query)),
      async migrate() {
        // Instances starting together migrate one at a time: all of it is one transaction that first takes a
        // transaction-level advisory lock. A session lock would not do behind a transaction pooler (PgBouncer): it
        // would be taken on one server connection and released, or not, on another.
        const conn = postgres(config.url, { ...options, max: 1 })
        try {
          await conn.begin(async (tx) => {
            await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`
            await applyMigrations(tx)
          })
        } finally {
          await conn.end({ timeout: 5 })
        }
      },
      async ready() {
        return (await countApplied(database)) >= expected
      },
      async close(timeoutMs = 5000) {
        const timeout = Math.max(0.1, timeoutMs / 1000)
        await Promise.all([client.end({ timeout }), listener === client ? null : listener.end({ timeout })])
      }
    }
    return database
  }

  const pglite = await import('@electric-sql/pglite')
  const { PGlite } = pglite
  const { drizzle } = await import('drizzle-orm/pglite')
  const { migrate } = await import('drizzle-orm/pglite/migrator')
  const { namedStatements } = await import('./pglite-statements.ts')
  // One process per data directory: the lock names this one (its URL lets `npm run token` find it).
  const release = config.dataDir ? lockDataDir(config.dataDir, options.holderUrl ?? 'a script') : () => {}
  let client: InstanceType<typeof PGlite>
  try {
    // PostgreSQL's shared buffers live in PGlite's WebAssembly memory, which never shrinks; pages beyond them
    // are read from the files through the kernel's page cache, which is not this process's memory.
    const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS_MB}MB`]
    client = new PGlite({ ...(config.dataDir ? { dataDir: config.dataDir } : {}), startParams })
    await client.waitReady
  } catch (err) {
    release()
    throw err
  }
  // Every plannable statement a named prepared statement, as postgres.js does on PostgreSQL (src/db/pglite-statements.ts).
  const counting = countingClient(namedStatements(client, pglite).client, 'pglite')
  const db = drizzle({ client: counting.client, schema, casing: 'snake_case' }) as unknown as Db
  // One process per PGlite database: its wake-ups never leave it.
  registerWakeups(db, createWakeups())
  const database: Database = {
    db,
    kind: 'pglite',
    pool: () => poolStats(1, counting.inFlight()),
    rows: async (query) => rowsOf(await db.execute(query)),
    async migrate() {
      await migrate(drizzle({ client, casing: 'snake_case' }), { migrationsFolder })
    },
    async ready() {
      return (await countApplied(database)) >= expected
    },
    async close() {
      if (!client.closed) await client.close()
      release()
    }
  }
  return database
}

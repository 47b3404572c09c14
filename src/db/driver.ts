// The one door below drizzle. Everything here reaches into drizzle's or a driver's internals for a measured gain
// (bench/README.md); test/db/driver.test.ts fails when drizzle or a driver changes under it. Queries go through
// drizzle everywhere else; raw SQL text only through execute(), from the *.render.ts, *.repo.ts and *.sql.ts files.
import type { DbOrTx } from './handles.ts'

/** What drizzle keeps on every database and transaction handle: its session and, on that, the driver client. */
interface Handle {
  session: { client: DriverClient }
}
interface DriverClient {
  /** postgres.js */
  unsafe?: (text: string, params: unknown[], options: { prepare: boolean }) => Promise<Array<Record<string, unknown>>>
  options?: { prepare?: boolean }
  /** PGlite (instance or transaction) */
  query?: (text: string, params: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>
}

/**
 * drizzle runs an unnamed query through postgres.js `unsafe(…, { prepare: false })`,
 * and postgres.js then sends Parse+Describe and waits before Bind+Execute: two
 * round trips, and a parse and plan on the server, for every query. Giving every
 * query a (postgres.js-generated) name makes it a cached prepared statement per
 * connection: one round trip. Off with DATABASE_PREPARE=false (old PgBouncer).
 */
let patched = false
export async function preparedByDefault(): Promise<void> {
  if (patched) return
  const { PostgresJsSession } = await import('drizzle-orm/postgres-js/session')
  const proto = PostgresJsSession.prototype as unknown as { prepareQuery: (...args: unknown[]) => unknown }
  const original = proto.prepareQuery
  proto.prepareQuery = function (this: unknown, query: unknown, fields: unknown, name: unknown, ...rest: unknown[]) {
    return original.call(this, query, fields, name ?? '', ...rest)
  }
  patched = true
}

const clientOf = (handle: DbOrTx): DriverClient => (handle as unknown as Handle).session.client
/** Whether a handle runs on PGlite (in this process, one statement at a time) rather than PostgreSQL. */
export const onPglite = (handle: DbOrTx): boolean => clientOf(handle).unsafe === undefined

const statements = new Map<unknown, Map<string, object>>()

/**
 * A drizzle prepared query, built once and run on the handle given: the pool
 * (`deps.db`) or a transaction. Hot paths skip drizzle's query builder, which
 * cost more CPU per request than the database did, and run as one named
 * prepared statement per connection. The query text is the same for every
 * database of a driver, so statements are kept per driver session class and
 * bound to the handle's connection at each call.
 */
export function prepared<T extends object>(handle: DbOrTx, name: string, build: (handle: DbOrTx) => T): T {
  const session = (handle as unknown as Handle).session
  let byName = statements.get(session.constructor)
  if (byName === undefined) {
    byName = new Map()
    statements.set(session.constructor, byName)
  }
  let statement = byName.get(name) as T | undefined
  if (statement === undefined) {
    statement = build(handle)
    byName.set(name, statement)
  }
  const client = session.client
  // postgres.js honours DATABASE_PREPARE=false (PgBouncer in transaction mode) through its own option.
  return Object.create(statement, {
    client: { value: client },
    prepare: { value: client.options?.prepare ?? true }
  }) as T
}

/**
 * Runs one raw SQL statement with positional parameters on the handle's own
 * connection (the pool or the transaction), whichever driver is underneath,
 * without drizzle's builder: for the multi-row, multi-table writes of a hot
 * path that are one round trip as a single statement. Pass timestamps as ISO
 * strings with a `::timestamptz` cast and JSON as text with a `::jsonb` cast, so
 * both drivers send the same thing.
 */
export async function execute(
  handle: DbOrTx,
  text: string,
  params: unknown[]
): Promise<Array<Record<string, unknown>>> {
  const client = clientOf(handle)
  if (client.unsafe) return client.unsafe(text, params, { prepare: client.options?.prepare ?? true })
  return (await client.query!(text, params)).rows
}

/** SQL for a timestamptz column as RFC 3339 UTC with milliseconds: exactly `Date#toISOString` (both truncate microseconds). */
export const isoText = (column: string): string =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * Wraps a driver client so that every statement and transaction run on the pool is counted while it runs.
 * Neither driver says how busy its pool is (postgres.js keeps its queues private; PGlite is one connection
 * behind a mutex), but both hand work to connections in a way that makes the count enough: postgres.js gives a
 * new statement or transaction an idle connection, else opens one, and only when all `max` are taken does it
 * queue or pipeline it behind another; PGlite runs one at a time. So in use = min(in flight, max) and
 * waiting = in flight − in use. Statements inside a transaction are not counted again: its connection is
 * already counted. Cheap: a counter and one settle callback per statement; nothing of postgres.js's internals.
 * Only the pool that drizzle is given is counted (not the migrator's own connection).
 */
export function countingClient<C extends object>(
  client: C,
  kind: 'postgres' | 'pglite'
): { client: C; inFlight: () => number } {
  let inFlight = 0
  const settle = (): void => {
    inFlight--
  }
  const counted = <T>(work: Promise<T>): Promise<T> => {
    inFlight++
    work.then(settle, settle)
    return work
  }
  type Start = (...args: never[]) => Promise<unknown>
  const wrap = (target: Record<string, unknown>, facade: Record<string, unknown>, name: string): void => {
    const start = (target[name] as Start).bind(target) as (...args: unknown[]) => Promise<unknown>
    facade[name] = (...args: unknown[]) => counted(start(...args))
  }
  // The facade inherits everything else (postgres.js's options, reserve…; PGlite's state) and replaces the two
  // methods drizzle starts work on the pool with. They run bound to the real client: PGlite's methods need its
  // private fields. postgres.js's unsafe() returns a lazy query that drizzle may still turn to `.values()`:
  // attaching a callback starts it only after a microtask, as awaiting it would.
  const facade = Object.create(client) as Record<string, unknown>
  const target = client as Record<string, unknown>
  for (const name of kind === 'postgres' ? ['unsafe', 'begin'] : ['query', 'transaction']) wrap(target, facade, name)
  return { client: facade as C, inFlight: () => inFlight }
}

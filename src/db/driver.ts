// The one door below drizzle. Everything here reaches into drizzle's or a driver's internals for a measured gain
// (bench/README.md); test/db/driver.test.ts fails when drizzle or a driver changes under it. Queries go through
// drizzle everywhere else; raw SQL text only through execute(), from *.render.ts and signature.repo.ts.
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

// Named prepared statements on PGlite. PGlite's own query() runs every statement unnamed: it is parsed and planned
// again on each call, in six WebAssembly calls. That was most of PGlite's cost per request: GET agreement's render
// statement took 810 µs that way and 67 µs as a named statement bound and run in one call (bench/README.md). This
// speaks PGlite's public protocol API (execProtocolStream, its serializer and result parser) under PGlite's own
// locks, so a statement never runs inside another caller's transaction. test/db/pglite-statements.test.ts fails
// if PGlite changes under it.
// Only types are imported from PGlite here: its serializer and parser are passed in by client.ts, which loads
// PGlite when it opens one. A value import would be hoisted to the top of the bundle and load PGlite's modules into
// every server, PostgreSQL's too (bench/README.md).
import type { PGlite, Transaction } from '@electric-sql/pglite'

/** What this takes from PGlite's module: its protocol serializer and its result parsers. */
export type PGliteProtocol = Pick<typeof import('@electric-sql/pglite'), 'parse' | 'protocol'>

type QueryOptions = NonNullable<Parameters<PGlite['query']>[2]>
type Results = Awaited<ReturnType<PGlite['query']>>
type Messages = Awaited<ReturnType<PGlite['execProtocolStream']>>

/** PGlite's locks: the ones its query() takes, one for transactions and one for each protocol exchange. */
interface Locks {
  _checkReady(): Promise<void>
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>
}

/**
 * Statements kept per database. PostgreSQL holds each one's plan in PGlite's memory, and drizzle builds a new text
 * for every length of an `in (…)` list, so past this many, new texts run unnamed as before.
 */
export const MAX_NAMED_STATEMENTS = 300

/** Only plannable statements are named: not BEGIN, SET, SAVEPOINT and the like. */
const PLANNABLE = /^\s*(?:select|insert|update|delete|with)\b/i

const concat = (messages: Uint8Array[]): Uint8Array => Buffer.concat(messages)

/**
 * Wraps a PGlite so that its query(), on the database and inside its transactions, runs each plannable statement
 * as a named prepared statement: parsed and described once, then bound, described and executed in a single call.
 * Everything else PGlite does is untouched.
 */
export function namedStatements(
  pg: PGlite,
  { parse, protocol }: PGliteProtocol
): { client: PGlite; named: () => number } {
  const { serialize } = protocol
  const locks = pg as unknown as Locks
  const kept = new Map<string, { name: string; types: number[] }>()
  // Names are never reused: one whose parse succeeded but whose description failed would otherwise block them all.
  let serial = 0
  const send = (message: Uint8Array): Promise<Messages> => pg.execProtocolStream(message, { syncToFs: false })

  /** One statement, holding PGlite's protocol lock. */
  async function run(text: string, params: unknown[], options: QueryOptions | undefined): Promise<Results> {
    let statement = kept.get(text)
    if (statement === undefined) {
      const name = kept.size < MAX_NAMED_STATEMENTS ? `accord_${serial++}` : ''
      try {
        const described = await send(concat([serialize.parse({ name, text }), serialize.describe({ type: 'S', name })]))
        statement = { name, types: parse.parseDescribeStatementResults(described) }
      } catch (err) {
        await send(serialize.sync()) // ends the failed exchange, as PGlite's own query() does
        throw err
      }
      if (name !== '') kept.set(text, statement)
    }
    const { types } = statement
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null
      const type = types[i]!
      const serializer = options?.serializers?.[type] ?? pg.serializers[type]
      return serializer ? serializer(value) : String(value)
    })
    // Bind, describe, execute and sync in one call: an error skips to the sync, which ends the exchange cleanly.
    const messages = await send(
      concat([
        serialize.bind({ statement: statement.name, values }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync()
      ])
    )
    return parse.parseResults(messages, pg.parsers, options)[0]!
  }

  const unsupported = (params: unknown[] | undefined, options: QueryOptions | undefined): boolean =>
    options?.blob !== undefined || options?.paramTypes !== undefined || params?.some((p) => p instanceof Blob) === true

  const query = async (text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results> => {
    if (!PLANNABLE.test(text) || unsupported(params, options)) return pg.query(text, params, options)
    await locks._checkReady()
    const results = await locks._runExclusiveTransaction(() =>
      locks._runExclusiveQuery(() => run(text, params, options))
    )
    await pg.syncToFs()
    return results
  }

  const inTransaction = (tx: Transaction): Transaction => {
    const facade = Object.create(tx) as Transaction
    facade.query = (async (text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results> => {
      if (!PLANNABLE.test(text) || unsupported(params, options)) return tx.query(text, params, options)
      if (tx.closed) throw new Error('Transaction is closed')
      // The transaction already holds PGlite's transaction lock: take the protocol lock only, as tx.query does.
      return locks._runExclusiveQuery(() => run(text, params, options))
    }) as Transaction['query']
    return facade
  }

  // The facade inherits the rest of PGlite and replaces the two methods drizzle runs statements through.
  const client = Object.create(pg) as PGlite
  client.query = query as PGlite['query']
  client.transaction = (<T>(callback: (tx: Transaction) => Promise<T>): Promise<T> =>
    pg.transaction((tx) => callback(inTransaction(tx)))) as PGlite['transaction']
  return { client, named: () => kept.size }
}

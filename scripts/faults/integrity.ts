// After the crashes, the database itself: PostgreSQL's amcheck extension reads every B-tree index
// of Accord's schemas against its table (bt_index_check with heapallindexed) and every table's heap
// (verify_heapam). A torn page, a half-written index or a lost tuple shows here even when no
// request happens to read it. Runs with the API stopped (PGlite opens DATA_DIR in-process).
import postgres from 'postgres'

const INDEXES = `select c.oid::regclass::text as name from pg_index i join pg_class c on c.oid = i.indexrelid
  join pg_am a on a.oid = c.relam join pg_namespace n on n.oid = c.relnamespace
  where a.amname = 'btree' and n.nspname in ('public', 'drizzle') and i.indisvalid`
const TABLES = `select c.oid::regclass::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind = 'r' and n.nspname in ('public', 'drizzle')`

export interface Integrity {
  indexes: number
  tables: number
  problems: string[]
}

type Query = (text: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>

async function check(query: Query): Promise<Integrity> {
  await query('create extension if not exists amcheck')
  const problems: string[] = []
  const indexes = await query(INDEXES)
  for (const { name } of indexes) {
    try {
      await query('select bt_index_check($1::regclass, true)', [name])
    } catch (err) {
      problems.push(`index ${String(name)}: ${(err as Error).message}`)
    }
  }
  const tables = await query(TABLES)
  for (const { name } of tables) {
    try {
      for (const r of await query('select blkno, offnum, msg from verify_heapam($1::regclass)', [name]))
        problems.push(`table ${String(name)} block ${String(r.blkno)}: ${String(r.msg)}`)
    } catch (err) {
      problems.push(`table ${String(name)}: ${(err as Error).message}`)
    }
  }
  return { indexes: indexes.length, tables: tables.length, problems }
}

/** Opens a PGlite DATA_DIR (nobody else may have it open) and checks it. */
export async function checkPglite(dataDir: string): Promise<Integrity> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { amcheck } = await import('@electric-sql/pglite/contrib/amcheck')
  const pg = new PGlite(dataDir, { extensions: { amcheck } })
  try {
    await pg.waitReady
    return await check(async (text, params) => (await pg.query<Record<string, unknown>>(text, params)).rows)
  } finally {
    await pg.close()
  }
}

export async function checkPostgres(url: string): Promise<Integrity> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    return await check(async (text, params) => [...(await sql.unsafe(text, (params ?? []) as never[]))])
  } finally {
    await sql.end({ timeout: 5 })
  }
}

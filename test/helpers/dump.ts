import type { Db } from '../../src/db/client.ts'
import { execute } from '../../src/db/driver.ts'

/** Every row of every table of the database, as text: what a dump of the database alone would show. */
export async function rawDump(db: Db): Promise<string> {
  const tables = await execute(
    db,
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    []
  )
  const parts: string[] = []
  for (const { table_name } of tables) {
    const rows = await execute(db, `select t::text as row from "${table_name as string}" t`, [])
    for (const row of rows) parts.push(`${table_name}: ${row.row}`)
  }
  return parts.join('\n')
}

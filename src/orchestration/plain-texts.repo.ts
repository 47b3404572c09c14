import type { DbOrTx } from '../db/client.ts'
import { execute } from '../db/driver.ts'

/** A column of personal texts: its table, author column and what each text is (the AAD of its sealing). */
export interface PersonalTextColumn {
  readonly table: string
  readonly column: string
  readonly author: string
  /** The row's key columns, in the order `purpose` takes them. */
  readonly keys: readonly string[]
  readonly purpose: (...keys: string[]) => string
}

export interface PlainText {
  readonly keys: string[]
  readonly authorId: string | null
  readonly value: string
}

/** Up to `limit` texts of a column still marked `plain:` (migration 0012). */
export async function findPlainTexts(db: DbOrTx, c: PersonalTextColumn, limit: number): Promise<PlainText[]> {
  const keys = c.keys.map((k, n) => `${k}::text as k${n}`).join(', ')
  const rows = await execute(
    db,
    `select ${keys}, ${c.author}::text as author, ${c.column} as value from ${c.table}
      where ${c.column} like 'plain:%' limit ${limit}`,
    []
  )
  return rows.map((r) => ({
    keys: c.keys.map((_, n) => String(r[`k${n}`])),
    authorId: (r.author as string | null) ?? null,
    value: r.value as string
  }))
}

/** Replaces a marked text by its sealed form, unless it changed meanwhile (another instance sealed it). */
export async function replacePlainText(
  tx: DbOrTx,
  c: PersonalTextColumn,
  text: PlainText,
  sealed: string | null
): Promise<void> {
  const where = c.keys.map((k, n) => `${k}::text = $${n + 3}`).join(' and ')
  await execute(tx, `update ${c.table} set ${c.column} = $1 where ${c.column} = $2 and ${where}`, [
    sealed,
    text.value,
    ...text.keys
  ])
}

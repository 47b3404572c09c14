// The little of postgres.js's `Sql` that bench/seed.ts uses (tagged statements, `sql(table)`, `sql(rows)` and
// `sql.json`), over PGlite's query(text, params): so the PGlite bench seeds with the same seeder, in-process.
import type { Sql } from 'postgres'

interface PgliteLike {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>
}

class Identifier {
  readonly name: string
  constructor(name: string) {
    this.name = name
  }
}
class Rows {
  readonly rows: Record<string, unknown>[]
  constructor(rows: Record<string, unknown>[]) {
    this.rows = rows
  }
}
class Json {
  readonly value: unknown
  constructor(value: unknown) {
    this.value = value
  }
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
// PGlite serialises a parameter by the type PostgreSQL infers for it: a jsonb column takes JSON text.
const paramOf = (v: unknown) => (v instanceof Json ? JSON.stringify(v.value) : (v ?? null))

export function pgliteSql(client: PgliteLike): Sql {
  const sql = (first: TemplateStringsArray | string | Record<string, unknown>[], ...args: unknown[]) => {
    if (typeof first === 'string') return new Identifier(first)
    if (!('raw' in first)) return new Rows(first)
    const params: unknown[] = []
    let text = first[0]!
    args.forEach((arg, i) => {
      if (arg instanceof Identifier) text += quote(arg.name)
      else if (arg instanceof Rows) {
        const columns = Object.keys(arg.rows[0] ?? {})
        const tuples = arg.rows.map(
          (row) =>
            `(${columns
              .map((c) => {
                params.push(paramOf(row[c]))
                return `$${params.length}`
              })
              .join(', ')})`
        )
        text += `(${columns.map(quote).join(', ')}) values ${tuples.join(', ')}`
      } else {
        params.push(paramOf(arg))
        text += `$${params.length}`
      }
      text += first[i + 1]
    })
    return client.query(text, params).then((r) => r.rows)
  }
  sql.json = (value: unknown) => new Json(value)
  return sql as unknown as Sql
}

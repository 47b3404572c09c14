import t from 'tap'
import { execute } from '../../src/db/driver.ts'
import { TimezoneSchema } from '../../src/http/schemas.ts'
import { buildTestApp } from '../helpers/app.ts'

// Class: a 500 for a value the edge accepts and the database refuses. Time zones are validated against Node's ICU
// and canonicalised there, then used by PostgreSQL (`at time zone`, the insights): every name the edge can store
// must be one the database knows, or a zone newer in ICU than in the database's tz data answers 22023 as a 500.
const ctx = await buildTestApp(t)

t.test("every time zone the API accepts is one this database's tz data knows", async (t) => {
  const known = new Set(
    (await execute(ctx.deps.db, 'select name from pg_timezone_names', [])).map((r) => r.name as string)
  )
  const candidates = new Set([...Intl.supportedValuesOf('timeZone'), ...known])
  const stored = new Set<string>()
  for (const name of candidates) {
    const parsed = TimezoneSchema.safeParse(name)
    if (parsed.success) stored.add(parsed.data)
  }
  t.ok(stored.size > 400, `${stored.size} names the API can store`)
  const unknown = [...stored].filter((name) => !known.has(name))
  t.same(unknown, [], 'none unknown to the database')
})

import * as pglite from '@electric-sql/pglite'
import t from 'tap'
import { MAX_NAMED_STATEMENTS, namedStatements } from '../../src/db/pglite-statements.ts'
import { onPostgres } from '../helpers/app.ts'

// src/db/pglite-statements.ts speaks PGlite's protocol API itself: each case here is one way that could go wrong
// (a statement inside another caller's transaction, an exchange left open after an error, a parameter serialized
// differently from PGlite's own query(), memory without bound). PGlite only: the PostgreSQL pass has nothing to add.
if (onPostgres) {
  t.pass('PGlite only: the PGlite pass runs this file')
} else {
  const pg = new pglite.PGlite()
  await pg.waitReady
  t.teardown(() => pg.close())
  const { client, named } = namedStatements(pg, pglite)
  await pg.exec('create table notes (id integer primary key, body text, at timestamptz, doc jsonb, ok boolean)')
  const kept = async () =>
    (await pg.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements')).rows[0]!.n

  t.test('answers as PGlite’s own query() does, for every kind of parameter and both row modes', async (t) => {
    const at = new Date('2026-03-29T01:30:00.123Z')
    const params = [1, 'a “note”', at, { x: [1, 'two'] }, true]
    const insert = 'insert into notes (id, body, at, doc, ok) values ($1, $2, $3, $4, $5) returning *'
    const mine = await client.query(insert, params)
    const theirs = await pg.query(insert.replace('values ($1', 'values ($1 + 1'), params)
    t.same(mine.rows, [{ ...(theirs.rows[0] as object), id: 1 }], 'the same row, parsed the same way')
    t.same(mine.fields, theirs.fields, 'the same fields')
    t.equal(mine.affectedRows, 1)
    const array = await client.query('select id, body from notes where id = $1', [1], { rowMode: 'array' })
    t.same(array.rows, [[1, 'a “note”']], 'rowMode array')
    const nulls = await client.query<{ body: string | null }>('select $1::text as body', [null])
    t.same(nulls.rows, [{ body: null }], 'null is sent as NULL')
    t.ok((await kept()) >= 3, 'each statement is now a named prepared statement')
  })

  t.test('a statement run again is bound to the statement kept, not parsed again', async (t) => {
    const before = named()
    for (let i = 0; i < 5; i++) await client.query('select body from notes where id = $1', [i])
    t.equal(named(), before + 1, 'five runs, one statement kept')
  })

  t.test(
    'an error ends its exchange: the database answers the next statement, and nothing is kept for a bad text',
    async (t) => {
      const before = named()
      await t.rejects(client.query('selec body from notes where id = $1', [1]), { code: '42601' }, 'a syntax error')
      t.equal(named(), before, 'a text that did not parse is not kept')
      await t.rejects(
        client.query('select body from notes where id = $1', ['not a number']),
        { code: '22P02' },
        'a bind error'
      )
      await t.rejects(client.query('insert into notes (id) values ($1)', [1]), { code: '23505' }, 'an execution error')
      const after = await client.query<{ n: number }>('select count(*)::int as n from notes where id = $1', [1])
      t.same(after.rows, [{ n: 1 }], 'the next statement is answered, and the failed insert wrote nothing')
      t.equal(pg.isInTransaction(), false, 'no transaction was left open')
    }
  )

  t.test('a statement on the database never runs inside a transaction that another caller has open', async (t) => {
    const inside = Promise.withResolvers<void>()
    const release = Promise.withResolvers<void>()
    const holder = client
      .transaction(async (tx) => {
        await tx.query('insert into notes (id, body) values ($1, $2)', [50, 'uncommitted'])
        inside.resolve()
        await release.promise
        throw new Error('roll back')
      })
      .catch((err: Error) => err.message)
    await inside.promise
    const outside = client.query<{ n: number }>('select count(*)::int as n from notes where id = $1', [50])
    await new Promise((resolve) => setTimeout(resolve, 20))
    release.resolve()
    t.equal(await holder, 'roll back')
    t.same((await outside).rows, [{ n: 0 }], 'it waited for the rollback instead of reading the uncommitted row')
  })

  t.test('inside a transaction: named statements see its own writes, and an error aborts it as usual', async (t) => {
    await client.transaction(async (tx) => {
      await tx.query('insert into notes (id, body) values ($1, $2)', [60, 'inside'])
      const seen = await tx.query<{ body: string }>('select body from notes where id = $1', [60])
      t.same(seen.rows, [{ body: 'inside' }])
    })
    const committed = await client.query<{ body: string }>('select body from notes where id = $1', [60])
    t.same(committed.rows, [{ body: 'inside' }], 'committed')
    await t.rejects(
      client.transaction(async (tx) => {
        await tx.query('insert into notes (id, body) values ($1, $2)', [61, 'lost'])
        await tx.query('insert into notes (id, body) values ($1, $2)', [60, 'duplicate'])
      }),
      { code: '23505' }
    )
    const none = await client.query('select 1 from notes where id = $1', [61])
    t.same(none.rows, [], 'the failed transaction rolled back its first insert')
    let closed: Parameters<Parameters<typeof client.transaction>[0]>[0] | undefined
    await client.transaction(async (tx) => {
      closed = tx
    })
    await t.rejects(closed!.query('select 1 where $1::int = 1', [1]), /Transaction is closed/, 'a finished transaction')
  })

  t.test(`at most ${MAX_NAMED_STATEMENTS} statements are kept; further texts still run, unnamed`, async (t) => {
    for (let i = 0; i < MAX_NAMED_STATEMENTS + 20; i++) {
      const { rows } = await client.query<{ n: number }>(`select $1::int + ${i} as n`, [1])
      if (rows[0]!.n !== i + 1) t.fail(`text ${i} answered ${rows[0]!.n}`)
    }
    t.equal(named(), MAX_NAMED_STATEMENTS, 'the bound holds')
    t.equal(await kept(), MAX_NAMED_STATEMENTS, 'and PostgreSQL holds no more than that')
  })
}

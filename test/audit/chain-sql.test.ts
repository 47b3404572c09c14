// The chain recomputed inside PostgreSQL (src/audit/chain.repo.ts, accord_jcs in migration 0014) against the
// rule a client uses (hashEvent and findChainBreak over the events as the API returns them): accord_jcs writes
// what the JCS library writes or says it is unsure; every break is found at the same seq for the same reason
// whatever the size of the ranges PostgreSQL checks; and events SQL is unsure of are checked by Node, through
// GET and POST …/audit/verify.

import { setImmediate } from 'node:timers/promises'
import canonicalize from 'canonicalize'
import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import t from 'tap'
import { firstChainBreak } from '../../src/audit/chain.service.ts'
import * as eventRepo from '../../src/audit/event.repo.ts'
import { chainEvents, findChainBreak, type NewEvent, toEventView } from '../../src/audit/event.rules.ts'
import type { Tx } from '../../src/db/client.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
const [alice, bob] = [await kit.person('Alice'), await kit.person('Bob')]
const db = ctx.database.db

const jcsInSql = async (value: unknown): Promise<string | null> => {
  // PGlite answers in-process through promises alone: without a turn of the event loop now and then, hundreds
  // of statements in a row would starve the app's timers and its load shedding would answer 503 to what follows.
  await setImmediate()
  const [row] = await ctx.database.rows<{ jcs: string | null }>(
    sql`select accord_jcs(${JSON.stringify(value)}::jsonb) as jcs`
  )
  return row!.jcs
}
/** What Node hashes on verification: the value as it comes back from a jsonb column. */
const readBack = async (value: unknown): Promise<unknown> => {
  const [row] = await ctx.database.rows<{ v: unknown }>(sql`select ${JSON.stringify(value)}::jsonb as v`)
  return row!.v
}

// Strings PostgreSQL can store: no NUL, no lone surrogate (UTF-8 text), anything else including controls,
// U+2028, DEL and characters beyond the BMP.
const storable = fc
  .string({ unit: 'binary' })
  .map((s) => s.replace(/\0/g, ''))
  .filter((s) => s.isWellFormed())
/** Values the API's events carry: ASCII keys, safe integers, any storable string, nesting. */
const apiShaped = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    storable,
    fc.maxSafeInteger(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
      tie('value'),
      { maxKeys: 5 }
    )
  )
})).value
/** Anything JSON can hold that PostgreSQL stores: floats, huge numbers, keys beyond ASCII. */
const anyJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    storable,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(0.1, 1e21, 1e-7, -0, 2 ** 53, -(2 ** 53), 1.2345678901234568e29, 1.5),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(storable, tie('value'), { maxKeys: 5 })
  )
})).value

t.test('accord_jcs writes what the JCS library writes, or null', async (t) => {
  await t.test('on values shaped like the API’s event data it is always sure, and right', async (t) => {
    await fc.assert(
      fc.asyncProperty(apiShaped, async (value) => {
        const back = await readBack(value)
        t.equal(await jcsInSql(value), canonicalize(back) ?? null)
      }),
      { numRuns: 200 }
    )
  })
  await t.test('on any JSON it is never wrong: equal or null', async (t) => {
    let unsure = 0
    await fc.assert(
      fc.asyncProperty(anyJson, async (value) => {
        const inSql = await jcsInSql(value)
        if (inSql === null) unsure++
        else t.equal(inSql, canonicalize(await readBack(value)))
      }),
      { numRuns: 300 }
    )
    t.ok(unsure > 0, `some values were left to Node (${unsure} of 300)`)
  })
  await t.test('unsure exactly where JavaScript would write differently', async (t) => {
    for (const value of [0.5, 1e21, { x: 1.0e-7 }, [2 ** 53], { clé: 1 }, { '😀': true }, 9007199254740992])
      t.equal(await jcsInSql(value), null, JSON.stringify(value))
    // What it is sure of, including what jsonb writes differently from JCS: key order, spacing, 1.0 and 1e2.
    t.equal(
      await jcsInSql({ b: 1, a: [true, null, 'x'], aa: { z: '\u2028\u007f\n"' } }),
      '{"a":[true,null,"x"],"aa":{"z":"\u2028\u007f\\n\\""},"b":1}'
    )
    const [row] = await ctx.database.rows<{ a: string; b: string }>(
      sql`select accord_jcs('1.0'::jsonb) as a, accord_jcs('1e2'::jsonb) as b`
    )
    t.same(row, { a: null, b: '100' }, '1.0 keeps its scale in jsonb and is left to Node; 1e2 is the integer 100')
    // Nesting deeper than any event is left to Node instead of exhausting PostgreSQL's stack.
    const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)])
    t.equal(await jcsInSql(deep(64)), canonicalize(deep(64)), '64 levels: written')
    t.equal(await jcsInSql(deep(66)), null, '66 levels: unsure')
    t.equal(await jcsInSql({ a: deep(2000) }), null, '2,000 levels: unsure, no stack overflow')
  })
})

/** Runs `fn` in a transaction with the events' triggers off, then rolls everything back. */
async function tampered(fn: (tx: Tx) => Promise<void>): Promise<void> {
  const rollback = new Error('rollback')
  await db
    .transaction(async (tx) => {
      await tx.execute(sql`alter table events disable trigger user`)
      await fn(tx)
      throw rollback
    })
    .catch((e: unknown) => {
      if (e !== rollback) throw e
    })
}

t.test('a break is found where the client rule finds it, whatever the ranges', async (t) => {
  const { pid } = await kit.partnership(alice, [bob])
  // 4 events from the partnership, then 12 appended as the API chains them, one of them with a float PostgreSQL
  // is unsure of (written directly: no route writes one today, but a client's rule must still hold).
  const head = await eventRepo.lastEvent(db, pid)
  const more: NewEvent[] = Array.from({ length: 12 }, (_, i) => ({
    partnershipId: pid,
    type: 'partnership.updated',
    actorId: alice.id,
    subject: { type: 'partnership', id: pid },
    data: i === 5 ? { name: `Us ${i}`, ratio: 0.5 } : { name: `Us ${i}`, tags: ['a', i] }
  }))
  for (const row of chainEvents(head ?? null, more, new Date())) await eventRepo.insertEvent(db, row)
  const n = 16
  const reference = async (tx: Tx) =>
    findChainBreak((await eventRepo.listEvents(tx, pid, 0, 100)).map(toEventView), { seq: 0, hash: null })
  // As the routes call it: up to the head (a log cut at its end is what checkpoints are for).
  const answers = async (tx: Tx) => {
    const upTo = (await eventRepo.lastEvent(tx, pid))!.seq
    const found = []
    for (const range of [1, 2, 5, 25_000]) found.push(await firstChainBreak(tx, pid, upTo, range))
    return found
  }

  t.same(await answers(db as unknown as Tx), [null, null, null, null], 'intact: no break in any range size')
  const tampers: Array<[string, (tx: Tx, k: number) => Promise<unknown>]> = [
    [
      'data',
      (tx, k) =>
        tx.execute(
          sql`update events set data = data || '{"name":"Rewritten"}' where partnership_id = ${pid} and seq = ${k}`
        )
    ],
    [
      'prevHash',
      (tx, k) => tx.execute(sql`update events set prev_hash = 'sha256:00' where partnership_id = ${pid} and seq = ${k}`)
    ],
    ['deleted', (tx, k) => tx.execute(sql`delete from events where partnership_id = ${pid} and seq = ${k}`)],
    [
      'time',
      (tx, k) =>
        tx.execute(sql`update events set at = at + interval '1 ms' where partnership_id = ${pid} and seq = ${k}`)
    ]
  ]
  for (const [what, tamper] of tampers)
    for (let k = 1; k <= (what === 'deleted' ? n - 1 : n); k++)
      await tampered(async (tx) => {
        await tamper(tx, k)
        const expected = await reference(tx)
        t.ok(expected, `${what} at ${k}: the client rule sees a break`)
        t.same(
          await answers(tx),
          [expected, expected, expected, expected],
          `${what} at ${k}: ${JSON.stringify(expected)}`
        )
      })
})

t.test('events PostgreSQL is unsure of are checked by Node, through the API', async (t) => {
  const { pid } = await kit.partnership(alice, [bob])
  const head = await eventRepo.lastEvent(db, pid)
  const odd: NewEvent[] = [{ ratio: 0.25 }, { clé: 'valeur' }, { big: 1e21 }, { name: 'plain' }].map((data) => ({
    partnershipId: pid,
    type: 'partnership.updated',
    actorId: alice.id,
    subject: { type: 'partnership', id: pid },
    data
  }))
  for (const row of chainEvents(head ?? null, odd, new Date())) await eventRepo.insertEvent(db, row)
  t.match(await kit.verify(alice, pid), { valid: true, eventCount: 8, head: { seq: 8 } })
  const checkpoint = (
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/audit/checkpoint`, token: bob.token })
  ).json() as { checkpoint: string }
  const post = async () =>
    (
      await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${pid}/audit/verify`,
        token: bob.token,
        body: { checkpoints: [checkpoint.checkpoint] }
      })
    ).json() as { chainBrokenAt: number | null; results: Array<{ status: string }> }
  t.match(await post(), { chainBrokenAt: null, results: [{ status: 'ok' }] })

  for (const [k, change] of [
    [5, `'{"ratio":0.5}'`],
    [6, `'{"clé":"autre"}'`],
    [8, `'{"name":"changed"}'`]
  ] as const)
    await tampered(async (tx) => {
      await tx.execute(
        sql.raw(`update events set data = ${change}::jsonb where partnership_id = '${pid}' and seq = ${k}`)
      )
      // The routes read through the pool, outside this transaction: check below them, on its handle.
      t.same(await firstChainBreak(tx, pid, 8), { seq: k, reason: 'hash-mismatch' }, `seq ${k} changed`)
    })
  // Committed, behind the triggers, then seen through both routes.
  await db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await tx.execute(sql`update events set data = '{"ratio":0.75}'::jsonb where partnership_id = ${pid} and seq = 5`)
    await tx.execute(sql`alter table events enable trigger user`)
  })
  t.match(await kit.verify(alice, pid), { valid: false, firstBrokenSeq: 5, reason: 'hash-mismatch', eventCount: 4 })
  t.match(await post(), { chainBrokenAt: 5, results: [{ status: 'rewritten' }] })
})

import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { eventPages } from '../../src/audit/event.render.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp, type TestApp } from '../helpers/app.ts'

// Pages of GET …/events are kept in memory as the bytes sent (audit/event.render.ts), shared by a partnership's
// members, and served again only after the database confirmed, in the same request, that the caller is a current
// member and that the page's rows (and the one after it) are the very row versions it was rendered from. Here
// each way a kept page could be wrong is provoked, on this instance and on a second one with pages of its own,
// and each answer is held equal, byte for byte, to the page read by an instance that keeps nothing.

const ctx = await buildTestApp(t)
const other = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
const fresh = await buildTestApp(t, { database: ctx.database, clock: ctx.clock, env: { EVENTS_CACHE_MB: '0' } })
const k = agreementKit(ctx)

const get = (app: TestApp, by: Person, pid: string, query = '?limit=3') =>
  app.request({ method: 'GET', url: `/v1/partnerships/${pid}/events${query}`, token: by.token })

/** The page on `app`, checked to be the bytes an instance that keeps nothing sends. */
async function page(t: Test, app: TestApp, by: Person, pid: string, query = '?limit=3'): Promise<string> {
  const res = await get(app, by, pid, query)
  t.equal(res.statusCode, 200, `${by.name} reads ${query}`)
  const truth = await get(fresh, by, pid, query)
  t.equal(res.body, truth.body, `${query}: the bytes a fresh read sends`)
  return res.body
}

const rename = async (by: Person, pid: string, name: string) =>
  k.expectStatus(
    await ctx.request({
      method: 'PATCH',
      url: `/v1/partnerships/${pid}`,
      token: by.token,
      headers: { 'if-match': '*' },
      body: { name }
    }),
    200,
    'rename'
  )

t.test('only EVENTS_CACHE_MB=0 keeps nothing', async (t) => {
  t.not(ctx.deps.eventPages, null, 'kept by default')
  t.equal(fresh.deps.eventPages, null, 'off at 0')
})

t.test('a new event is on the next read of the last page, on both instances', async (t) => {
  const { alice, bob, pid } = await k.couple()
  const q = '?limit=50'
  const before = [await page(t, ctx, alice, pid, q), await page(t, other, bob, pid, q)]
  t.ok((ctx.deps.eventPages?.size ?? 0) > 0, 'the page is kept')
  t.equal(await page(t, ctx, bob, pid, q), before[0], 'another member is served the same page')
  await rename(alice, pid, 'Renamed')
  const after = JSON.parse(await page(t, ctx, alice, pid, q))
  t.equal(after.items.at(-1).type, 'partnership.updated', 'the new event is listed')
  t.equal(JSON.parse(await page(t, other, bob, pid, q)).items.at(-1).type, 'partnership.updated', 'on the other too')
  // A full page followed by more: an append moves its nextCursor's page, not its own bytes.
  const full = await page(t, ctx, alice, pid, '?limit=2')
  await rename(bob, pid, 'Again')
  t.equal(await page(t, ctx, alice, pid, '?limit=2'), full, 'a page below the head is unchanged')
  const cursor = JSON.parse(full).nextCursor
  await page(t, ctx, alice, pid, `?limit=2&cursor=${cursor}`)
  await page(t, ctx, alice, pid, '?after=4&limit=100')
})

t.test('a member who leaves loses the kept page at once, on both instances', async (t) => {
  const { alice, bob, pid } = await k.couple()
  const carol = await k.person('Carol')
  k.expectStatus(await k.join(carol, pid, 'observer', alice, [alice, bob]), 201, 'carol joins')
  for (const app of [ctx, other]) await page(t, app, carol, pid)
  await k.leave(carol, pid)
  for (const app of [ctx, other]) {
    const res = await get(app, carol, pid)
    t.equal(res.statusCode, 404, 'the partnership is unknown to her now')
    t.notOk(res.body.includes('"items"'), 'no page is sent')
  }
  // The others still read it, and what she leaving appended.
  const last = JSON.parse(await page(t, other, bob, pid, '?limit=100')).items.at(-1)
  t.equal(last.type, 'member.left')
  const stranger = await k.person('Mallory')
  t.equal((await get(ctx, stranger, pid)).statusCode, 404, 'a stranger is never served a kept page')
})

t.test('rows changed behind the append-only triggers are never served from memory', async (t) => {
  const { alice, pid } = await k.couple()
  const kept = await page(t, ctx, alice, pid)
  await ctx.database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await tx.execute(sql`update events set data = '{"forged": true}'::jsonb where partnership_id = ${pid} and seq = 2`)
    await tx.execute(sql`alter table events enable trigger user`)
  })
  const now = await page(t, ctx, alice, pid)
  t.not(now, kept, 'the page read again')
  t.same(JSON.parse(now).items[1].data, { forged: true }, 'showing what the table holds, for verify and clients to see')
})

t.test('an erased account is never served a kept page, on either instance', async (t) => {
  const { alice, bob, pid } = await k.couple()
  const carol = await k.person('Carol')
  k.expectStatus(await k.join(carol, pid, 'observer', alice, [alice, bob]), 201, 'carol joins')
  const kept: string[] = []
  for (const app of [ctx, other]) kept.push(await page(t, app, carol, pid, '?limit=100'))
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: '/v1/me', token: carol.token, headers: { 'if-match': '*' } }),
    204,
    'erase carol'
  )
  for (const app of [ctx, other]) {
    const res = await get(app, carol, pid, '?limit=100')
    // 401 account-erased from an instance that re-reads who she is, 404 from one that still maps her old token
    // to her old id for a while (auth.ts): either way she is no longer a member, and no page is sent.
    t.ok(res.statusCode === 401 || res.statusCode === 404, `refused (${res.statusCode})`)
    t.notOk(res.body.includes('"items"'), 'no page is sent')
    for (const body of kept) t.notOk(res.body.includes(body.slice(0, 64)), 'nothing of the kept page')
  }
  const last = JSON.parse(await page(t, other, bob, pid, '?limit=100')).items.at(-1)
  t.equal(last.type, 'member.left', 'the others read her leaving at once')
})

t.test('kept pages are bounded in bytes, least recently used out first', async (t) => {
  const pages = eventPages(10_000)!
  const body = (n: number) => Buffer.alloc(n, 'x')
  pages.set('too-big', { versions: '1', body: body(20_000) })
  t.notOk(pages.has('too-big'), 'a page larger than the whole bound is not kept')
  for (let n = 0; n < 40; n++) {
    pages.set(`p${n}`, { versions: String(n), body: body(1_000) })
    if (n % 3 === 0) pages.get('p0')
  }
  t.ok(pages.calculatedSize <= 10_000, `at most the bound (${pages.calculatedSize} bytes)`)
  t.ok(pages.has('p0'), 'the page read again stays')
  t.notOk(pages.has('p1'), 'the least recently used went first')
  t.ok(pages.has('p39'), 'the newest is kept')
  t.equal(eventPages(0), null, 'a bound of 0 keeps nothing')
})

// A Buffer made from a string under 32 KB is cut from Node's shared 64 KB slab, and a kept one keeps the whole
// slab: a kept page must hold its own bytes, no more (lib/kept-bytes.ts).
t.test('a kept page holds memory of its own, exactly its bytes', async (t) => {
  const { alice, pid } = await k.couple()
  const body = await page(t, ctx, alice, pid, '?limit=7')
  const kept = ctx.deps.eventPages?.get(`${pid}/0/7`)
  t.ok(kept, 'kept under its partnership, position and limit')
  t.equal(kept!.body.toString('utf8'), body, 'the bytes sent')
  t.equal(kept!.body.buffer.byteLength, kept!.body.length, 'in an ArrayBuffer of its own size')
  if (Buffer.poolSize > 2 * body.length)
    t.ok(Buffer.from(body).buffer.byteLength > body.length, 'where Buffer.from would have shared a larger slab')
})

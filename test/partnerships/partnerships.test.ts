import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

t.test('updating a partnership', async (t) => {
  /** What a refused change must leave as it was: the partnership (body and ETag) and its log. */
  const read = async (who: Person, pid: string) => {
    const res = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: who.token })
    return { etag: res.headers.etag as string, body: res.json(), events: (await k.eventsAfter(who, pid, 0)).length }
  }

  t.test('without If-Match is 428 and changes nothing', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const before = await read(alice, pid)
    isProblem(
      t,
      await ctx.request({ method: 'PATCH', url: base, token: alice.token, body: { name: 'New' } }),
      428,
      'precondition-required'
    )
    t.same(await read(alice, pid), before)
  })

  t.test('with a stale If-Match is 412 and changes nothing', async (t) => {
    const { alice, bob, pid, url: base } = await k.couple()
    const stale = (await read(alice, pid)).etag
    t.equal(
      (
        await ctx.request({
          method: 'PATCH',
          url: base,
          token: bob.token,
          headers: { 'if-match': stale },
          body: { name: "Bob's name" }
        })
      ).statusCode,
      200
    )
    const before = await read(alice, pid)
    t.not(before.etag, stale)
    const res = await ctx.request({
      method: 'PATCH',
      url: base,
      token: alice.token,
      headers: { 'if-match': stale },
      body: { name: "Alice's name" }
    })
    isProblem(t, res, 412, 'precondition-failed')
    t.equal(res.headers.etag, before.etag, 'the 412 names the current ETag')
    t.same(await read(alice, pid), before)
  })

  t.test('an invalid body is 400 with errors[].path and changes nothing', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const before = await read(alice, pid)
    const cases: Array<[unknown, string]> = [
      [{ name: '' }, '/name'],
      [{ name: '   ' }, '/name'],
      [{ name: 'x'.repeat(101) }, '/name'],
      [{ timezone: 'Mars/Olympus_Mons' }, '/timezone'],
      [{ timezone: 'not a zone' }, '/timezone'],
      [{ name: 'Ok', colour: 'blue' }, '/colour']
    ]
    for (const [body, path] of cases) {
      const res = await ctx.request({
        method: 'PATCH',
        url: base,
        token: alice.token,
        headers: { 'if-match': before.etag },
        body
      })
      isProblem(t, res, 400, 'validation-failed')
      const errors = problemOf(res).errors ?? []
      // An unknown field is reported at the object that holds it (path '', as for /v1/me), its message naming the field.
      const named = errors.some(
        (e) => e.path === path || (path === '/colour' && e.path === '' && e.message.includes('colour'))
      )
      t.ok(named, `${JSON.stringify(body)} names ${path} (got ${JSON.stringify(errors)})`)
    }
    const empty = await ctx.request({
      method: 'PATCH',
      url: base,
      token: alice.token,
      headers: { 'if-match': before.etag },
      body: {}
    })
    isProblem(t, empty, 400, 'validation-failed')
    t.same(await read(alice, pid), before, 'same ETag, same body, no new event')
  })

  t.test('a valid change bumps the ETag and appends partnership.updated', async (t) => {
    const { alice, pid, url: base } = await k.couple()
    const before = await read(alice, pid)
    const res = await ctx.request({
      method: 'PATCH',
      url: base,
      token: alice.token,
      headers: { 'if-match': before.etag },
      body: { name: '  Us two  ', timezone: 'America/New_York' }
    })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { name: 'Us two', timezone: 'America/New_York' })
    const after = await read(alice, pid)
    t.not(after.etag, before.etag)
    t.equal(res.headers.etag, after.etag)
    t.equal(after.events, before.events + 1)
    t.match((await k.eventsAfter(alice, pid, 0)).at(-1), {
      type: 'partnership.updated',
      data: { name: 'Us two', timezone: 'America/New_York' }
    })
  })
})

t.test('listing my partnerships with limit=2 walks all five, without duplicates', async (t) => {
  const pat = await k.person('Pat')
  const created: string[] = []
  for (let i = 1; i <= 5; i++) created.push((await k.partnership(pat)).pid)
  const seen: string[] = []
  let url: string | null = '/v1/partnerships?limit=2'
  let pages = 0
  while (url !== null) {
    const res: LightMyRequestResponse = await ctx.request({ method: 'GET', url, token: pat.token })
    t.equal(res.statusCode, 200)
    const page = res.json()
    t.ok(page.items.length <= 2)
    seen.push(...page.items.map((p: { id: string }) => p.id))
    pages++
    url = page.nextCursor === null ? null : `/v1/partnerships?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`
    if (pages > 10) throw new Error('the cursor never ends')
  }
  t.equal(pages, 3)
  t.equal(new Set(seen).size, seen.length, 'no duplicates')
  t.same([...seen].sort(), [...created].sort(), 'every partnership, once')
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: '/v1/partnerships?limit=2&cursor=bogus', token: pat.token }),
    400,
    'invalid-cursor'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: '/v1/partnerships?limit=0', token: pat.token }),
    400,
    'validation-failed'
  )
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: '/v1/partnerships?limit=101', token: pat.token }),
    400,
    'validation-failed'
  )
})

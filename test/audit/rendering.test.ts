import t from 'tap'
import { EventSchema } from '../../src/audit/audit.schemas.ts'
import { listEvents } from '../../src/audit/audit.service.ts'
import { renderEventsAfter, renderEventsAfterForMembers } from '../../src/audit/event.render.ts'
import { pageOf, paginate } from '../../src/http/pagination.ts'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemShape } from '../helpers/problems.ts'

// GET …/events is rendered to JSON by the database (one statement with the membership check). The
// reference is the application's own rendering of the same rows through the response schema: every
// page, whatever its limit, position or cursor, must be equal to it field for field and type for type.
const ctx = await buildTestApp(t)
const kit = agreementKit(ctx)
const Page = pageOf(EventSchema)

t.test('every page of the log equals the schema rendering of the same rows', async (t) => {
  const [alice, bob] = await Promise.all([kit.person('Alice'), kit.person('Bob')])
  const { pid } = await kit.partnership(alice, [bob])
  // Events with text that needs escaping, nested data, signatures, an activation and a revocation.
  kit.expectStatus(
    await ctx.request({
      method: 'PATCH',
      url: `/v1/partnerships/${pid}`,
      token: alice.token,
      headers: {
        'if-match': (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}`, token: alice.token })).headers
          .etag as string
      },
      body: { name: 'Quotes " \\ tabs\t emoji 🫶 </script>' }
    }),
    200,
    'rename'
  )
  const aid = await kit.activeAgreement(alice, [bob], pid, content({ title: 'Ünïcödé "title"' }))
  const declined = await kit.create(bob, pid, { content: content({ title: 'To decline' }) })
  kit.expectStatus(
    await ctx.request({
      method: 'POST',
      url: `${kit.versionUrl(pid, declined.id, 1)}/decline`,
      token: alice.token,
      body: { reason: 'Not yet — "maybe" later\nline two' }
    }),
    200,
    'decline'
  )
  kit.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${kit.versionUrl(pid, aid, 1)}/signatures/me`, token: bob.token }),
    204,
    'revoke'
  )
  const head = await kit.headSeq(alice, pid)
  t.ok(head >= 8, `a log of ${head} events`)

  const reference = async (afterSeq: number, limit: number) =>
    Page.parse(
      paginate(
        await listEvents(ctx.deps, { partnershipId: pid, userId: alice.id, afterSeq, limit: limit + 1 }),
        limit,
        (e) => ({ seq: e.seq })
      )
    )
  for (const limit of [1, 2, 3, 50, 100]) {
    for (const after of [0, 1, head - 1, head, head + 5]) {
      const res = await ctx.request({
        method: 'GET',
        url: `/v1/partnerships/${pid}/events?after=${after}&limit=${limit}`,
        token: bob.token
      })
      t.equal(res.statusCode, 200)
      t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/)
      t.strictSame(res.json(), await reference(after, limit), `after=${after} limit=${limit}`)
    }
  }

  // Walking the cursors gives every event once, in order, each page equal to the reference.
  let url: string | null = `/v1/partnerships/${pid}/events?limit=3`
  let after = 0
  const seqs: number[] = []
  while (url !== null) {
    const page: { items: Array<{ seq: number }>; nextCursor: string | null } = (
      await ctx.request({ method: 'GET', url, token: alice.token })
    ).json()
    t.strictSame(page, await reference(after, 3), `page after ${after}`)
    seqs.push(...page.items.map((e) => e.seq))
    after = page.items.at(-1)?.seq ?? after
    url = page.nextCursor === null ? null : `/v1/partnerships/${pid}/events?limit=3&cursor=${page.nextCursor}`
  }
  t.strictSame(
    seqs,
    Array.from({ length: head }, (_, i) => i + 1),
    'every event once, in order'
  )
})

t.test("the live stream's events (renderEventsAfter) equal the same reference, one by one", async (t) => {
  const [alice, bob, stranger] = await Promise.all([kit.person('Alice'), kit.person('Bob'), kit.person('Mallory')])
  const { pid } = await kit.partnership(alice, [bob])
  await kit.activeAgreement(alice, [bob], pid, content({ title: 'Quotes " \\ tabs\t </script>\nline two' }))
  const head = await kit.headSeq(alice, pid)
  for (const [after, limit] of [
    [0, 100],
    [2, 3],
    [head, 10]
  ] as const) {
    const rendered = await renderEventsAfter(ctx.deps.db, pid, bob.id, after, limit)
    const reference = (
      await listEvents(ctx.deps, { partnershipId: pid, userId: alice.id, afterSeq: after, limit })
    ).map((e) => EventSchema.parse(e))
    t.equal(rendered.member, true)
    t.strictSame(
      rendered.events.map((e) => JSON.parse(e.json)),
      reference,
      `after=${after} limit=${limit}`
    )
    t.strictSame(
      rendered.events.map((e) => [e.seq, e.type]),
      reference.map((e) => [e.seq, e.type]),
      'with their seq and type'
    )
  }
  const outsider = await renderEventsAfter(ctx.deps.db, pid, stranger.id, 0, 100)
  t.equal(outsider.member, false, 'a stranger is no member')

  // The read a wake-up makes once for every stream of the partnership: the same events, and which users are members.
  for (const [after, limit] of [
    [0, 100],
    [2, 3],
    [head, 10]
  ] as const) {
    const together = await renderEventsAfterForMembers(ctx.deps.db, pid, [alice.id, bob.id, stranger.id], after, limit)
    const alone = await renderEventsAfter(ctx.deps.db, pid, bob.id, after, limit)
    t.strictSame(together.events, alone.events, `the same events for every stream (after=${after} limit=${limit})`)
    t.same([...together.members].sort(), [alice.id, bob.id].sort(), 'the members among the users asked about')
  }
  await kit.leave(bob, pid)
  const afterLeaving = await renderEventsAfterForMembers(ctx.deps.db, pid, [alice.id, bob.id], 0, 1)
  t.same([...afterLeaving.members], [alice.id], 'a member who left is no longer among them')
})

t.test('strangers and former members get the unknown-partnership 404, never a page', async (t) => {
  const [alice, bob, eve] = await Promise.all([kit.person('Alice'), kit.person('Bob'), kit.person('Eve')])
  const { pid } = await kit.partnership(alice, [bob])
  const unknown = '00000000-0000-4000-8000-000000000000'
  const stranger = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events`, token: eve.token })
  const nothing = await ctx.request({ method: 'GET', url: `/v1/partnerships/${unknown}/events`, token: eve.token })
  isProblem(t, stranger, 404, 'not-found', 'a stranger')
  t.strictSame(problemShape(stranger), problemShape(nothing), 'the same answer as an unknown id')
  await kit.leave(bob, pid)
  t.equal(
    (await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events`, token: bob.token })).statusCode,
    404,
    'a partner who left reads nothing'
  )
  t.equal(
    (
      await ctx.request({
        method: 'GET',
        url: `/v1/partnerships/${pid}/events?cursor=not-a-cursor`,
        token: alice.token
      })
    ).statusCode,
    400,
    'a cursor it never gave out'
  )
})

import t from 'tap'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp, type TestApp } from '../helpers/app.ts'

// The agenda's lists are kept in memory per caller (agenda.render.ts) and served again only after the database
// confirmed the caller's membership and role and the partnership's log head, and only before the clock alone
// could change them. Here each of the three ways a kept agenda goes stale is provoked, and each answer is held
// equal to the agenda read by an instance that keeps nothing. (test/architecture/writers.test.ts does the same
// after every write operation of the API.)

const ctx = await buildTestApp(t)
// Another instance on the same database, with lists of its own in memory, and one that keeps nothing.
const other = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
const fresh = await buildTestApp(t, { database: ctx.database, clock: ctx.clock, env: { AGENDA_CACHE_MB: '0' } })
const k = agreementKit(ctx)
const DAY = 86_400_000
const HORIZON = 14 * DAY

const agendaUrl = (pid: string): string => `/v1/partnerships/${pid}/agenda`
async function agenda(app: TestApp, by: Person, pid: string): Promise<Record<string, any>> {
  const res = await app.request({ method: 'GET', url: agendaUrl(pid), token: by.token })
  k.expectStatus(res, 200, `agenda of ${by.name}`)
  const { asOf: _a, horizon: _h, ...lists } = res.json()
  return lists
}
const monthly = (title: string): Record<string, unknown> =>
  content({ title, review: { rrule: 'FREQ=MONTHLY;BYMONTHDAY=28', time: '19:00' } })

t.test('only AGENDA_CACHE_MB=0 keeps nothing', async (t) => {
  t.not(ctx.deps.agendaBodies, null, 'kept by default')
  t.equal(fresh.deps.agendaBodies, null, 'off at 0')
})

t.test('the clock alone brings a review within the horizon: the lists kept from before are not served', async (t) => {
  ctx.clock.advance(Date.parse('2030-06-03T08:00:00Z') - ctx.clock.now().getTime()) // the next 28th is 25 days away
  const { alice, bob, pid } = await k.couple()
  const aid = await k.activeAgreement(alice, [bob], pid, monthly('Monthly'))
  const nextReviewAt = Date.parse((await k.agreement(alice, pid, aid)).body.nextReviewAt)
  const entry = nextReviewAt - HORIZON // from this instant on, the review is within the agenda's horizon
  t.ok(entry > ctx.clock.now().getTime() + DAY, 'the review is further away than the horizon, to begin with')
  const upcoming = (lists: Record<string, any>) =>
    lists.reviews.filter((r: any) => r.agreementId === aid && r.status === 'upcoming')

  t.same(upcoming(await agenda(ctx, alice, pid)), [], 'not listed yet (and now kept)')
  t.ok((ctx.deps.agendaBodies?.size ?? 0) > 0, 'the lists are kept')
  const head = await k.headSeq(alice, pid)

  ctx.clock.advance(entry - 60_000 - ctx.clock.now().getTime())
  await k.refresh([alice])
  const before = await agenda(ctx, alice, pid)
  t.same(upcoming(before), [], 'a minute before it comes within the horizon: still not listed')
  t.same(before, await agenda(fresh, alice, pid), 'and that is what a fresh read says')

  ctx.clock.advance(2 * 60_000)
  await k.refresh([alice])
  const after = await agenda(ctx, alice, pid)
  t.equal(upcoming(after).length, 1, 'a minute after: listed as upcoming, with nothing written in between')
  t.equal(upcoming(after)[0].dueAt, new Date(nextReviewAt).toISOString())
  t.equal(await k.headSeq(alice, pid), head, 'the log did not move: only the clock did')
  t.same(after, await agenda(fresh, alice, pid), 'equal to a fresh read')
})

t.test('a write through another instance is seen at once', async (t) => {
  const { alice, bob, pid } = await k.couple()
  const aid = await k.activeAgreement(alice, [bob], pid)
  t.same((await agenda(ctx, alice, pid)).incidents, [], 'no incident (and the lists are kept)')
  const reported = await other.request({
    method: 'POST',
    url: `${k.agreementUrl(pid, aid)}/incidents`,
    token: bob.token,
    body: {
      clauseKey: 'no-hidden-chats',
      subjectId: bob.id,
      occurredAt: ctx.clock.now().toISOString(),
      description: 'I hid a chat'
    }
  })
  k.expectStatus(reported, 201, 'report through the other instance')
  const lists = await agenda(ctx, alice, pid)
  t.same(
    lists.incidents.map((i: any) => i.id),
    [reported.json().id],
    'the instance that kept the lists lists the incident'
  )
  t.same(lists, await agenda(fresh, alice, pid), 'equal to a fresh read')
})

t.test('a partner who leaves through another instance is refused at once', async (t) => {
  const { alice, bob, pid } = await k.couple()
  await k.activeAgreement(alice, [bob], pid)
  await agenda(ctx, bob, pid) // kept
  k.expectStatus(
    await other.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/me`, token: bob.token }),
    204,
    'leave through the other instance'
  )
  const res = await ctx.request({ method: 'GET', url: agendaUrl(pid), token: bob.token })
  t.equal(res.statusCode, 404, 'no agenda for someone who is no longer a member')
  t.equal(res.json().type, (await fresh.request({ method: 'GET', url: agendaUrl(pid), token: bob.token })).json().type)
  t.equal(ctx.deps.agendaBodies?.has(`${pid}/${bob.id}`), false, 'and what was kept for them is dropped')
})

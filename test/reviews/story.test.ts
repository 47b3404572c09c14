import ICAL from 'ical.js'
import t from 'tap'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const DAY = 24 * 3600_000

t.test('an agreement comes back for review on its cadence, once, and shows in the calendar', async (t) => {
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const { pid, agreements: base } = await k.partnership(alice, [bob], [], { timezone: 'America/New_York' })
  const a = (
    await ctx.request({
      method: 'POST',
      url: base,
      token: alice.token,
      body: {
        content: {
          title: 'Evenings',
          category: 'time',
          clauses: [{ key: 'phones-away', text: 'Phones away after 21:00.' }],
          review: { rrule: 'FREQ=WEEKLY' }
        }
      }
    })
  ).json()
  const v1 = (await ctx.request({ method: 'GET', url: `${base}/${a.id}/versions/1`, token: bob.token })).json()
  await ctx.request({
    method: 'POST',
    url: `${base}/${a.id}/versions/1/signatures`,
    token: bob.token,
    body: { contentHash: v1.contentHash }
  })
  const active = (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).json()
  const due = new Date(active.nextReviewAt)

  // The calendar shows the next review at that instant.
  const cal = await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: bob.token })
  t.equal(cal.statusCode, 201)
  const feed = await ctx.request({ method: 'GET', url: new URL(cal.json().url).pathname })
  t.equal(feed.statusCode, 200)
  t.match(feed.headers['content-type'], /^text\/calendar/)
  const vevents = new ICAL.Component(ICAL.parse(feed.body)).getAllSubcomponents('vevent')
  t.equal(vevents.length, 1)
  const event = new ICAL.Event(vevents[0]!)
  t.equal(event.startDate.toJSDate().toISOString(), due.toISOString(), 'the feed instant is nextReviewAt')
  t.equal(event.uid, `agreement-${a.id}@accord`)

  // Nothing is due yet.
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 })
  // The clock passes the date: one review opens, once.
  ctx.clock.advance(due.getTime() - Date.now() + 60_000)
  await k.refresh([alice, bob])
  t.equal((await runDueWork(ctx.deps)).opened, 1)
  t.equal((await runDueWork(ctx.deps)).opened, 0, 'never twice')
  const mine = (await ctx.request({ method: 'GET', url: '/v1/me/reviews?status=open', token: bob.token })).json().items
  t.equal(mine.length, 1)
  t.match(mine[0], { trigger: 'schedule', status: 'open', dueAt: due.toISOString() })
  const rid = mine[0].id
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: `${base}/${a.id}/reviews`, token: alice.token }),
    409,
    'review-open',
    'an early review while one is open'
  )

  // Both keep: completed, and the next date is the next occurrence after the due date.
  t.equal(
    (
      await ctx.request({
        method: 'PUT',
        url: `${base}/${a.id}/reviews/${rid}/responses/me`,
        token: alice.token,
        body: { outcome: 'revise', rating: 3 }
      })
    ).json().status,
    'open'
  )
  t.equal(
    (
      await ctx.request({
        method: 'PUT',
        url: `${base}/${a.id}/reviews/${rid}/responses/me`,
        token: alice.token,
        body: { outcome: 'keep', rating: 4, note: 'Better.' }
      })
    ).json().responses.length,
    1,
    'an answer can change'
  )
  const done = await ctx.request({
    method: 'PUT',
    url: `${base}/${a.id}/reviews/${rid}/responses/me`,
    token: bob.token,
    body: { outcome: 'keep', rating: 5 }
  })
  t.match(done.json(), { status: 'completed', outcome: 'keep' })
  const after = (await ctx.request({ method: 'GET', url: `${base}/${a.id}`, token: alice.token })).json()
  const wall = (d: Date) =>
    new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23'
    }).format(d)
  const next = new Date(after.nextReviewAt)
  t.ok(
    Math.abs(next.getTime() - due.getTime() - 7 * DAY) <= 3600_000,
    'a week after the due date (±1 h across a DST change)'
  )
  t.equal(wall(next), wall(due), 'same weekday and local time in New York')

  // An early review left unanswered becomes overdue after 7 days, once.
  const early = await ctx.request({ method: 'POST', url: `${base}/${a.id}/reviews`, token: alice.token })
  t.equal(early.statusCode, 201)
  ctx.clock.advance(7 * DAY + 60_000)
  await k.refresh([alice, bob])
  const r = await runDueWork(ctx.deps)
  t.equal(r.overdue, 1)
  t.equal((await runDueWork(ctx.deps)).overdue, 0)
  const events = (
    await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events?limit=100`, token: alice.token })
  )
    .json()
    .items.map(
      (e: { type: string; data: { trigger?: string } }) => e.type + (e.data.trigger ? `:${e.data.trigger}` : '')
    )
  t.same(
    events.filter((e: string) => e.startsWith('review.')),
    [
      'review.opened:schedule',
      'review.responded',
      'review.responded',
      'review.responded',
      'review.completed',
      'review.opened:early',
      'review.overdue'
    ]
  )

  // A revoked calendar token is 404.
  t.equal(
    (await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${cal.json().id}`, token: bob.token }))
      .statusCode,
    204
  )
  t.equal((await ctx.request({ method: 'GET', url: new URL(cal.json().url).pathname })).statusCode, 404)
})

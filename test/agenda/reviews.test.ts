import t from 'tap'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

// The reviews of the agenda over time: a scheduled review left open past its due date + 7 days is overdue and
// comes first (soonest due); a partner who joined after a review opened is not asked in it, but is asked in the
// ones coming due; a review due more than 14 days ahead appears once the horizon reaches it.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)
const DAY = 24 * 3600_000

t.test('overdue first, then open, then upcoming; asked according to who was a partner when it opened', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const people = [alice, bob, carol]
  // A Tuesday, 10:00 in New York: the weekly reviews fall at 19:00 today, the monthly one on 5 October.
  ctx.clock.advance(Date.parse('2030-09-10T14:00:00Z') - ctx.clock.now().getTime())
  await k.refresh(people)
  const pid = await r.partnership('America/New_York', alice, [bob])
  const late = await k.activeAgreement(alice, [bob], pid, weekly('Late'))
  const monthly = await k.activeAgreement(alice, [bob], pid, {
    ...weekly('Monthly'),
    review: { rrule: 'FREQ=MONTHLY;BYMONTHDAY=5', time: '19:00' }
  })
  const monthlyDue = Date.parse((await k.agreement(alice, pid, monthly)).body.nextReviewAt)
  t.equal(new Date(monthlyDue).toISOString(), '2030-10-05T23:00:00.000Z', '19:00 EDT on 5 October')
  const agenda = async (who: typeof alice): Promise<any> =>
    k
      .expectStatus(
        await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agenda`, token: who.token }),
        200,
        'agenda'
      )
      .json()

  // Late's first review opens on schedule and is left open for more than a week.
  const { review, due } = await r.scheduledReview(alice, pid, late, people)
  await r.advancePast(new Date(due.getTime() + 7 * DAY + 3600_000), people, 0)
  const work = await runDueWork(ctx.deps)
  t.equal(work.overdue, 1, 'marked overdue')
  // Carol joins; then an early review of a new agreement opens, asking all three.
  await k.join(carol, pid, 'partner', alice)
  const early = await k.activeAgreement(alice, [bob, carol], pid, weekly('Early'))
  const opened = k.expectStatus(await r.openEarly(bob, pid, early), 201, 'early').json()

  const now = ctx.clock.now().getTime()
  const expectFor = (who: typeof alice) => {
    const isCarol = who === carol
    // Monthly is not listed: it is due more than 14 days from now.
    return [
      { status: 'open', reviewId: review.id, agreementId: late, overdue: true, youAreAsked: !isCarol },
      { status: 'open', reviewId: opened.id, agreementId: early, overdue: false, youAreAsked: true }
    ]
  }
  for (const who of people)
    t.match(
      (await agenda(who)).reviews,
      expectFor(who).map((x) => ({ ...x, youAnswered: false })),
      `${who.name}: overdue, open, and Carol is not asked in the review that opened before she joined`
    )
  t.equal((await agenda(alice)).reviews.length, expectFor(alice).length)

  // Once the horizon reaches the monthly agreement's date, it is listed, asking everyone, Carol included.
  t.ok(monthlyDue - now > 14 * DAY, 'the monthly review was more than 14 days away')
  await r.advancePast(new Date(monthlyDue - 14 * DAY), people)
  const soon = await agenda(carol)
  t.match(soon.reviews.at(-1), {
    status: 'upcoming',
    reviewId: null,
    agreementId: monthly,
    dueAt: new Date(monthlyDue).toISOString(),
    youAreAsked: true,
    youAnswered: false
  })
  t.ok(Date.parse(soon.horizon) >= monthlyDue && Date.parse(soon.asOf) < monthlyDue, 'due between now and the horizon')
})

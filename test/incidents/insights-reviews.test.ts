import t from 'tap'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

// The review half of GET …/agreements/{aid}/insights: completed reviews, those completed within 7 days of their due
// date, the mean of every rating, the last three reviews against the three before (steady within 0.25), and the
// run of all-keep reviews. Every expected number is worked out by hand beside its assertion.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)
const DAY = 24 * 3600_000

type Answer = readonly [Person, 'keep' | 'revise' | 'retire', number]

/** Each partner answers in turn; the last answer closes the review (checked). */
async function answerAll(pid: string, aid: string, rid: string, answers: Answer[]): Promise<void> {
  let last: any
  for (const [p, outcome, rating] of answers)
    last = k.expectStatus(await r.answer(p, pid, aid, rid, { outcome, rating }), 200, `${p.name} answers`).json()
  if (last.status !== 'completed') throw new Error(`review ${rid} did not complete: ${JSON.stringify(last)}`)
}

/** An early review, answered at once by everyone. */
async function earlyReview(by: Person, pid: string, aid: string, answers: Answer[]): Promise<void> {
  const rid = k.expectStatus(await r.openEarly(by, pid, aid), 201, 'open an early review').json().id
  ctx.clock.advance(60_000)
  await answerAll(pid, aid, rid, answers)
  ctx.clock.advance(60_000)
}

async function reviews(by: Person, pid: string, aid: string): Promise<any> {
  const res = await ctx.request({ method: 'GET', url: `${k.agreementUrl(pid, aid)}/insights`, token: by.token })
  return k.expectStatus(res, 200, 'GET insights').json().reviews
}

t.test(
  'scheduled reviews: completed, on time within 7 days of the due date, mean rating, trend, keep streak',
  async (t) => {
    const alice = await k.person('Alice')
    const bob = await k.person('Bob')
    const olga = await k.person('Olga')
    const people = [alice, bob, olga]
    const pid = await r.partnership('Europe/Paris', alice, [bob], [olga])
    const aid = await k.activeAgreement(alice, [bob], pid, weekly('Evenings'))

    t.same(
      await reviews(olga, pid, aid),
      {
        completed: 0,
        completedOnTime: 0,
        averageRating: null,
        trend: { recent: null, previous: null, direction: null },
        keepStreak: 0
      },
      'no review yet'
    )

    // 1: answered as soon as it opens.
    const first = await r.scheduledReview(alice, pid, aid, people)
    await answerAll(pid, aid, first.review.id, [
      [alice, 'keep', 4],
      [bob, 'keep', 4]
    ])
    t.same(
      await reviews(olga, pid, aid),
      {
        completed: 1,
        completedOnTime: 1,
        averageRating: 4,
        trend: { recent: 4, previous: null, direction: null },
        keepStreak: 1
      },
      'one review: nothing to compare with yet'
    )

    // 2: open for almost 7 days, then answered: still on time.
    const second = await r.scheduledReview(alice, pid, aid, people)
    await r.advancePast(new Date(second.due.getTime() + 7 * DAY - 10 * 60_000), people, 0)
    await answerAll(pid, aid, second.review.id, [
      [alice, 'keep', 5],
      [bob, 'keep', 5]
    ])

    // 3: answered more than 7 days after its due date (overdue by then): late.
    const third = await r.scheduledReview(alice, pid, aid, people)
    await r.advancePast(new Date(third.due.getTime() + 7 * DAY + 3600_000), people, 0)
    t.equal((await runDueWork(ctx.deps)).overdue, 1, 'the third review is overdue')
    await answerAll(pid, aid, third.review.id, [
      [alice, 'keep', 3],
      [bob, 'keep', 3]
    ])
    // Ratings 4 4 5 5 3 3: 24/6 = 4. Three reviews, all compared with nothing.
    t.same(
      await reviews(alice, pid, aid),
      {
        completed: 3,
        completedOnTime: 2,
        averageRating: 4,
        trend: { recent: 4, previous: null, direction: null },
        keepStreak: 3
      },
      'three reviews, the third late; three keeps in a row'
    )

    // 4: one partner asks to revise: the streak ends.
    const fourth = await r.scheduledReview(alice, pid, aid, people)
    await answerAll(pid, aid, fourth.review.id, [
      [alice, 'keep', 2],
      [bob, 'revise', 3]
    ])
    // All: 4 4 5 5 3 3 2 3 = 29/8 = 3.625 → 3.63. Recent (2–4): 5 5 3 3 2 3 = 21/6 = 3.5; previous (1): 4.
    t.same(
      await reviews(bob, pid, aid),
      {
        completed: 4,
        completedOnTime: 3,
        averageRating: 3.63,
        trend: { recent: 3.5, previous: 4, direction: 'down' },
        keepStreak: 0
      },
      'a revise ends the streak; the last three fell 0.5 below the one before'
    )
    t.equal((await k.agreement(alice, pid, aid)).body.status, 'in_revision')

    // 5 and 6: early reviews of the agreement in revision, both all keep: the streak starts again.
    await earlyReview(alice, pid, aid, [
      [alice, 'keep', 5],
      [bob, 'keep', 5]
    ])
    // Recent (3–5): 3 3 2 3 5 5 = 21/6 = 3.5; previous (1–2): 4 4 5 5 = 4.5.
    t.match(await reviews(alice, pid, aid), {
      completed: 5,
      completedOnTime: 4,
      trend: { recent: 3.5, previous: 4.5, direction: 'down' },
      keepStreak: 1
    })
    await earlyReview(bob, pid, aid, [
      [alice, 'keep', 5],
      [bob, 'keep', 4]
    ])
    // All: 29 + 10 + 9 = 48/12 = 4. Recent (4–6): 2 3 5 5 5 4 = 24/6 = 4; previous (1–3): 24/6 = 4.
    t.same(
      await reviews(alice, pid, aid),
      {
        completed: 6,
        completedOnTime: 5,
        averageRating: 4,
        trend: { recent: 4, previous: 4, direction: 'steady' },
        keepStreak: 2
      },
      'as good lately as before: steady'
    )
    await earlyReview(bob, pid, aid, [
      [alice, 'keep', 5],
      [bob, 'keep', 5]
    ])
    // Recent (5–7): 5 5 5 4 5 5 = 29/6 = 4.83; previous (2–4): 5 5 3 3 2 3 = 21/6 = 3.5. All: 58/14 = 4.14.
    t.same(
      await reviews(olga, pid, aid),
      {
        completed: 7,
        completedOnTime: 6,
        averageRating: 4.14,
        trend: { recent: 4.83, previous: 3.5, direction: 'up' },
        keepStreak: 3
      },
      'better lately: up; the observer reads the same'
    )
  }
)

t.test(
  'the trend compares every rating of the last three reviews with the three before; 0.25 is a change',
  async (t) => {
    const alice = await k.person('Alice')
    const bob = await k.person('Bob')
    const carol = await k.person('Carol')
    const pid = await r.partnership('Europe/Paris', alice, [bob])
    const aid = await k.activeAgreement(alice, [bob], pid, weekly('Chores'))

    await earlyReview(alice, pid, aid, [
      [alice, 'keep', 4],
      [bob, 'keep', 4]
    ])
    await earlyReview(alice, pid, aid, [
      [alice, 'keep', 4],
      [bob, 'keep', 4]
    ])
    // Carol joins: the reviews from now on have three answers each.
    await k.join(carol, pid, 'partner', alice)
    t.equal((await k.agreement(alice, pid, aid)).body.status, 'active', 'the agreement still binds')
    await earlyReview(alice, pid, aid, [
      [alice, 'keep', 5],
      [bob, 'keep', 4],
      [carol, 'keep', 4]
    ])
    t.match(await reviews(carol, pid, aid), { completed: 3, trend: { previous: null, direction: null } })

    await earlyReview(bob, pid, aid, [
      [alice, 'keep', 5],
      [bob, 'keep', 4],
      [carol, 'keep', 4]
    ])
    // Recent (2–4): 4 4 | 5 4 4 | 5 4 4 = 34/8 = 4.25; previous (1): 4 4 = 4. Exactly 0.25 better: up.
    t.match(
      await reviews(carol, pid, aid),
      { completed: 4, trend: { recent: 4.25, previous: 4, direction: 'up' } },
      'four reviews: the last three against the one before; a change of exactly 0.25 is not steady'
    )

    await earlyReview(carol, pid, aid, [
      [alice, 'keep', 4],
      [bob, 'keep', 4],
      [carol, 'keep', 3]
    ])
    // Recent (3–5): 13 + 13 + 11 = 37/9 = 4.11; previous (1–2): 16/4 = 4. Within 0.25: steady.
    t.match(await reviews(carol, pid, aid), { completed: 5, trend: { recent: 4.11, previous: 4, direction: 'steady' } })

    await earlyReview(carol, pid, aid, [
      [alice, 'keep', 4],
      [bob, 'keep', 4],
      [carol, 'keep', 3]
    ])
    // Recent (4–6): 13 + 11 + 11 = 35/9 = 3.888… → 3.89; previous (1–3): 8 + 8 + 13 = 29/7 = 4.142… → 4.14.
    // Shown and unrounded alike the last three are at least 0.25 worse (0.25 shown, 0.254 unrounded): down.
    // Every rating counts once (a mean per review would give 3.89 against (4 + 4 + 4.33)/3 = 4.11).
    t.same(
      await reviews(alice, pid, aid),
      {
        completed: 6,
        completedOnTime: 6,
        averageRating: 4,
        trend: { recent: 3.89, previous: 4.14, direction: 'down' },
        keepStreak: 6
      },
      '64 ratings points over 16 ratings: 4; 0.25 worse: down'
    )
  }
)

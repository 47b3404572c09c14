import { randomUUID } from 'node:crypto'
import t from 'tap'
import { nextOccurrence } from '../../src/agreements/cadence.rules.ts'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem, problemOf, problemShape } from '../helpers/problems.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)
const WEEK = 7 * 24 * 3600_000
const CADENCE = { rrule: 'FREQ=WEEKLY', time: '19:00' }

const sorted = (ids: string[]): string[] => [...ids].sort()
/** Weekday and local time of an instant in a zone. */
const wall = (d: Date, tz: string): string =>
  new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23'
  }).format(d)

t.test('all keep: the review completes and the next date is the next occurrence after the due date', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Evenings'))
  const activatedAt = new Date((await k.agreement(alice, pid, aid)).body.active.activatedAt)

  const { review, due } = await r.scheduledReview(alice, pid, aid, people)
  t.match(review, {
    trigger: 'schedule',
    status: 'open',
    dueAt: due.toISOString(),
    outcome: null,
    closedAt: null,
    versionNumber: 1,
    responses: []
  })
  t.same(sorted(review.requiredResponders), sorted([alice.id, bob.id]), 'the partners at opening are asked')

  const first = await r.answer(alice, pid, aid, review.id, { outcome: 'keep', rating: 4 })
  t.equal(first.statusCode, 200, first.body)
  t.match(first.json(), { status: 'open', outcome: null })
  const done = await r.answer(bob, pid, aid, review.id, { outcome: 'keep', rating: 5, note: 'Working well.' })
  t.equal(done.statusCode, 200, done.body)
  const closed = done.json()
  t.match(closed, { status: 'completed', outcome: 'keep' })
  t.ok(closed.closedAt, 'closedAt is set')
  t.equal(closed.responses.length, 2)

  const after = (await k.agreement(alice, pid, aid)).body
  t.equal(after.status, 'active')
  const next = new Date(after.nextReviewAt)
  const expected = nextOccurrence(
    CADENCE,
    'Europe/Paris',
    activatedAt,
    new Date(Math.max(due.getTime(), Date.parse(closed.closedAt)))
  )!
  t.equal(next.toISOString(), expected.toISOString(), 'the first occurrence after the due date')
  t.ok(Math.abs(next.getTime() - due.getTime() - WEEK) <= 3600_000, 'a week after the due date (±1 h across DST)')
  t.equal(wall(next, 'Europe/Paris'), wall(due, 'Europe/Paris'), 'same weekday and local time')
  t.ok(next.getTime() > ctx.clock.now().getTime(), 'in the future')
})

t.test(
  'three partners keep a review left open for weeks: the next date is in the future, not in the past',
  async (t) => {
    const alice = await k.person('Alice')
    const bob = await k.person('Bob')
    const carol = await k.person('Carol')
    const people = [alice, bob, carol]
    const pid = await r.partnership('Europe/Paris', alice, [bob, carol])
    const aid = await k.activeAgreement(alice, [bob, carol], pid, weekly('Chores'))
    const activatedAt = new Date((await k.agreement(alice, pid, aid)).body.active.activatedAt)
    const { review, due } = await r.scheduledReview(alice, pid, aid, people)
    t.equal(review.requiredResponders.length, 3)

    // Three more occurrences pass while the review is open.
    await r.advancePast(new Date(due.getTime() + 3 * WEEK + 5 * 3600_000), people, 0)
    const now = ctx.clock.now()
    t.equal((await r.answer(alice, pid, aid, review.id, { outcome: 'keep', rating: 3 })).json().status, 'open')
    t.equal(
      (await r.answer(bob, pid, aid, review.id, { outcome: 'keep', rating: 4 })).json().status,
      'open',
      'two of three: still open'
    )
    const done = await r.answer(carol, pid, aid, review.id, { outcome: 'keep', rating: 5 })
    t.match(done.json(), { status: 'completed', outcome: 'keep' })

    const next = new Date((await k.agreement(alice, pid, aid)).body.nextReviewAt)
    t.ok(next.getTime() > now.getTime(), `the next date ${next.toISOString()} is after now ${now.toISOString()}`)
    t.ok(next.getTime() - now.getTime() <= WEEK, 'and it is the first one after now (within a week)')
    t.equal(
      next.toISOString(),
      nextOccurrence(CADENCE, 'Europe/Paris', activatedAt, new Date(done.json().closedAt))!.toISOString(),
      'the first occurrence after now'
    )
    t.equal(wall(next, 'Europe/Paris'), wall(due, 'Europe/Paris'), 'still on the cadence: same weekday and local time')
    const weeks = (next.getTime() - due.getTime()) / WEEK
    t.ok(
      Math.abs(weeks - Math.round(weeks)) * WEEK <= 3600_000 && Math.round(weeks) === 4,
      `four occurrences after the due date (${weeks} weeks)`
    )
  }
)

t.test('all retire: the agreement is retired with no next review', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const pid = await r.partnership('Europe/Paris', alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, weekly('Old rule'))
  const opened = await r.openEarly(bob, pid, aid)
  t.equal(opened.statusCode, 201, opened.body)
  const rid = opened.json().id
  t.equal(opened.headers.location, r.reviewUrl(pid, aid, rid))
  t.match(opened.json(), { trigger: 'early', status: 'open' })

  const before = await k.headSeq(alice, pid)
  t.equal((await r.answer(alice, pid, aid, rid, { outcome: 'retire', rating: 2 })).json().status, 'open')
  t.equal((await r.answer(bob, pid, aid, rid, { outcome: 'retire', rating: 1 })).json().status, 'open')
  const done = await r.answer(carol, pid, aid, rid, { outcome: 'retire', rating: 2, note: 'It did its job.' })
  t.match(done.json(), { status: 'completed', outcome: 'retire' })
  const a = (await k.agreement(alice, pid, aid)).body
  t.equal(a.status, 'retired')
  t.equal(a.nextReviewAt, null)
  const events = await k.eventsAfter(alice, pid, before)
  t.same(
    events.map((e) => e.type),
    ['review.responded', 'review.responded', 'review.responded', 'review.completed', 'agreement.retired']
  )
  const retired = events.filter((e) => e.type === 'agreement.retired')
  t.equal(retired.length, 1, 'agreement.retired once')
  t.match(retired[0], { actorId: carol.id, subject: { type: 'agreement', id: aid }, data: { reviewId: rid } })
  t.match(
    events.find((e) => e.type === 'review.completed'),
    { subject: { type: 'review', id: rid }, data: { agreementId: aid, outcome: 'retire' } }
  )

  // A retired agreement cannot be reviewed again.
  isProblem(t, await r.openEarly(alice, pid, aid), 409, 'agreement-not-active', 'early review of a retired agreement')
  t.ok((await k.verify(alice, pid)).valid, 'the chain verifies')
})

t.test('mixed answers: revise, and the agreement is in revision', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')

  t.test('two partners: keep and revise', async (t) => {
    const pid = await r.partnership('Europe/Paris', alice, [bob])
    const aid = await k.activeAgreement(alice, [bob], pid, weekly('Screens'))
    const rid = (await r.openEarly(alice, pid, aid)).json().id
    await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 })
    const done = await r.answer(bob, pid, aid, rid, {
      outcome: 'revise',
      rating: 2,
      note: 'Needs a weekend exception.'
    })
    t.match(done.json(), { status: 'completed', outcome: 'revise' })
    const a = (await k.agreement(alice, pid, aid)).body
    t.equal(a.status, 'in_revision')
    t.equal(a.activeVersion, 1, 'the active version still binds')
  })

  t.test('three partners: keep, keep and retire', async (t) => {
    const pid = await r.partnership('Europe/Paris', alice, [bob, carol])
    const aid = await k.activeAgreement(alice, [bob, carol], pid, weekly('Money'))
    const rid = (await r.openEarly(alice, pid, aid)).json().id
    await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 })
    await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 4 })
    const done = await r.answer(carol, pid, aid, rid, { outcome: 'retire', rating: 1 })
    t.match(done.json(), { status: 'completed', outcome: 'revise' })
    t.equal((await k.agreement(alice, pid, aid)).body.status, 'in_revision')
  })
})

t.test('answers change while open; a completed review is closed to answers', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Texts'))
  const rid = (await r.openEarly(alice, pid, aid)).json().id

  const first = await r.answer(alice, pid, aid, rid, { outcome: 'revise', rating: 2, note: 'Not sure.' })
  t.match(first.json().responses, [{ userId: alice.id, outcome: 'revise', rating: 2, note: 'Not sure.' }])
  const changed = await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 })
  t.equal(changed.statusCode, 200)
  t.equal(changed.json().status, 'open')
  t.equal(changed.json().responses.length, 1, 'one answer per partner')
  t.match(changed.json().responses[0], { userId: alice.id, outcome: 'keep', rating: 4, note: null })

  // GET …/reviews/{rid} and GET …/reviews show the answers.
  const one = await r.getReview(bob, pid, aid, rid)
  t.match(one, {
    id: rid,
    agreementId: aid,
    status: 'open',
    trigger: 'early',
    overdue: false,
    responses: [{ userId: alice.id, outcome: 'keep', rating: 4 }]
  })
  const list = await r.listReviews(bob, pid, aid)
  t.equal(list.length, 1)
  t.same(list[0], one, 'the list shows the same review')

  const done = await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 5 })
  t.match(done.json(), { status: 'completed', outcome: 'keep' })
  const snapshot = { review: await r.getReview(alice, pid, aid, rid), head: await k.headSeq(alice, pid) }
  isProblem(
    t,
    await r.answer(alice, pid, aid, rid, { outcome: 'retire', rating: 1 }),
    409,
    'review-closed',
    'changing an answer after completion'
  )
  isProblem(
    t,
    await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 5 }),
    409,
    'review-closed',
    'answering a completed review'
  )
  t.same(
    { review: await r.getReview(alice, pid, aid, rid), head: await k.headSeq(alice, pid) },
    snapshot,
    'nothing changed'
  )
  t.match(await r.listReviews(alice, pid, aid), [
    { id: rid, status: 'completed', outcome: 'keep', responses: [{}, {}] }
  ])
  isProblem(
    t,
    await r.answer(alice, pid, aid, randomUUID(), { outcome: 'keep', rating: 5 }),
    404,
    'not-found',
    'an unknown review'
  )
})

t.test('early reviews: only of an active agreement, one open at a time', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const pid = await r.partnership('Europe/Paris', alice, [bob])

  const proposed = await k.create(alice, pid, { content: weekly('Proposed') })
  isProblem(
    t,
    await r.openEarly(alice, pid, proposed.id),
    409,
    'agreement-not-active',
    'early review of a proposed agreement'
  )
  const draft = await k.create(alice, pid, { content: weekly('Draft'), draft: true })
  isProblem(t, await r.openEarly(alice, pid, draft.id), 409, 'agreement-not-active', 'early review of a draft')

  const suspended = await k.activeAgreement(alice, [bob], pid, weekly('Suspended'))
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, suspended, 1)}/signatures/me`, token: bob.token }),
    204,
    'revoke consent'
  )
  t.equal((await k.agreement(alice, pid, suspended)).body.status, 'suspended')
  isProblem(
    t,
    await r.openEarly(alice, pid, suspended),
    409,
    'agreement-not-active',
    'early review of a suspended agreement'
  )

  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Active'))
  const before = await k.headSeq(alice, pid)
  const first = await r.openEarly(bob, pid, aid)
  t.equal(first.statusCode, 201)
  t.match(first.json(), { trigger: 'early', status: 'open', versionNumber: 1, outcome: null })
  t.ok(
    Math.abs(Date.parse(first.json().dueAt) - Date.parse(first.json().openedAt)) < 1000,
    'an early review is due when it opens'
  )
  const again = await r.openEarly(alice, pid, aid)
  isProblem(t, again, 409, 'review-open', 'a second early review')
  t.equal(again.json().reviewId, first.json().id, 'the 409 names the open review')
  t.match(again.json().detail, first.json().id, 'in its detail too')
  isProblem(t, await r.openEarly(bob, pid, aid), 409, 'review-open', 'a second early review by the same partner')
  t.equal((await r.listReviews(alice, pid, aid)).length, 1, 'only one review')
  t.same(
    (await k.eventsAfter(alice, pid, before)).map((e) => e.type),
    ['review.opened'],
    'one event'
  )
  isProblem(t, await r.openEarly(alice, pid, randomUUID()), 404, 'not-found', 'early review of an unknown agreement')
})

t.test('observers read reviews but neither open nor answer them; strangers get 404', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const olivia = await k.person('Olivia')
  const mallory = await k.person('Mallory')
  const pid = await r.partnership('Europe/Paris', alice, [bob], [olivia])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Observed'))

  isProblem(t, await r.openEarly(olivia, pid, aid), 403, 'observer-read-only', 'an observer opens a review')
  const rid = (await r.openEarly(alice, pid, aid)).json().id
  t.notOk((await r.getReview(alice, pid, aid, rid)).requiredResponders.includes(olivia.id), 'observers are not asked')
  isProblem(
    t,
    await r.answer(olivia, pid, aid, rid, { outcome: 'retire', rating: 1 }),
    403,
    'observer-read-only',
    'an observer answers'
  )
  t.equal(
    (await r.getReview(olivia, pid, aid, rid)).responses.length,
    0,
    'the observer reads the review; nothing was recorded'
  )
  t.equal((await r.listReviews(olivia, pid, aid)).length, 1)

  // A stranger gets exactly what an unknown id gets.
  const [xp, xa, xr] = [randomUUID(), randomUUID(), randomUUID()]
  const pairs: Array<[string, string, string, unknown]> = [
    ['POST', r.reviewsUrl(pid, aid), r.reviewsUrl(xp, xa), undefined],
    ['GET', r.reviewsUrl(pid, aid), r.reviewsUrl(xp, xa), undefined],
    ['GET', r.reviewUrl(pid, aid, rid), r.reviewUrl(xp, xa, xr), undefined],
    [
      'PUT',
      `${r.reviewUrl(pid, aid, rid)}/responses/me`,
      `${r.reviewUrl(xp, xa, xr)}/responses/me`,
      { outcome: 'keep', rating: 3 }
    ]
  ]
  for (const [method, real, unknown, body] of pairs) {
    const stranger = await ctx.request({ method: method as 'GET', url: real, token: mallory.token, body })
    const missing = await ctx.request({ method: method as 'GET', url: unknown, token: mallory.token, body })
    t.equal(stranger.statusCode, 404, `${method} ${real} by a stranger: 404`)
    t.same(problemShape(stranger), problemShape(missing), `${method}: the same body as for unknown ids`)
    // And what a member gets for an unknown partnership.
    t.same(
      problemShape(await ctx.request({ method: method as 'GET', url: unknown, token: alice.token, body })),
      problemShape(missing)
    )
  }
  t.equal((await r.getReview(alice, pid, aid, rid)).responses.length, 0, 'nothing was recorded')
})

t.test('a partner who joins after a review opened is not asked', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const dan = await k.person('Dan')
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Late joiner'))
  const rid = (await r.openEarly(alice, pid, aid)).json().id
  await k.join(dan, pid, 'partner', alice)
  isProblem(
    t,
    await r.answer(dan, pid, aid, rid, { outcome: 'keep', rating: 3 }),
    403,
    'not-a-reviewer',
    'a partner who joined later answers'
  )
  await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 3 })
  t.match(
    (await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 3 })).json(),
    { status: 'completed', outcome: 'keep' },
    'the partners asked complete it'
  )
})

t.test('a partner who leaves does not block an open review', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const carol = await k.person('Carol')
  const pid = await r.partnership('Europe/Paris', alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, weekly('Three of us'))
  const rid = (await r.openEarly(alice, pid, aid)).json().id
  await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 })
  await k.leave(carol, pid)
  isProblem(
    t,
    await r.answer(carol, pid, aid, rid, { outcome: 'keep', rating: 4 }),
    404,
    'not-found',
    'the partner who left cannot answer'
  )
  const last = await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 4 })
  t.equal(last.statusCode, 200)
  t.equal(last.json().status, 'completed', 'every partner still asked has answered: it completes')
  t.same(sorted(last.json().requiredResponders), sorted([alice.id, bob.id]), 'the partner who left is no longer asked')
  t.equal((await k.agreement(alice, pid, aid)).body.status, 'active')
})

t.test('an answer is validated and each error names its path', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Validated'))
  const rid = (await r.openEarly(alice, pid, aid)).json().id
  const before = await k.headSeq(alice, pid)
  const cases: Array<[unknown, string, string]> = [
    [{ outcome: 'keep', rating: 0 }, '/rating', 'rating 0'],
    [{ outcome: 'keep', rating: 6 }, '/rating', 'rating 6'],
    [{ outcome: 'keep', rating: 2.5 }, '/rating', 'rating 2.5'],
    [{ outcome: 'keep', rating: '3' }, '/rating', 'rating as a string'],
    [{ outcome: 'keep' }, '/rating', 'rating missing'],
    [{ rating: 3 }, '/outcome', 'outcome missing'],
    [{ outcome: 'maybe', rating: 3 }, '/outcome', 'outcome "maybe"'],
    [{ outcome: 'keep', rating: 3, note: 'x'.repeat(2001) }, '/note', 'a 2001-char note'],
    [{ outcome: 'keep', rating: 3, note: '   ' }, '/note', 'a blank note']
  ]
  for (const [body, path, what] of cases) isInvalid(t, await r.answer(alice, pid, aid, rid, body), path, what)
  t.equal(
    (await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 3, note: 'x'.repeat(2000) })).statusCode,
    200,
    'a 2000-char note is fine'
  )

  const unknown = await r.answer(bob, pid, aid, rid, { outcome: 'keep', rating: 3, mood: 'great' })
  isInvalid(t, unknown, '/mood', 'an unknown field')
  t.match(JSON.stringify(problemOf(unknown).errors), /mood/, 'the problem names the unknown field')

  t.equal((await r.getReview(alice, pid, aid, rid)).responses.length, 1, 'only the valid answer was recorded')
  t.same(
    (await k.eventsAfter(alice, pid, before)).map((e) => e.type),
    ['review.responded'],
    'invalid answers append nothing'
  )
})

t.test('scopes: reviews:write opens and answers, agreements:read alone does not', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Scoped'))
  const readOnly = await k.scoped(alice, 'agreements:read')
  const writer = await k.scoped(alice, 'reviews:write')

  const refused = await r.openEarly(alice, pid, aid, readOnly)
  isProblem(t, refused, 403, 'insufficient-scope', 'POST review with agreements:read')
  t.match(refused.headers['www-authenticate'], /insufficient_scope/)
  t.match(refused.headers['www-authenticate'], /reviews:write/)
  const opened = await r.openEarly(alice, pid, aid, writer)
  t.equal(opened.statusCode, 201, 'POST review with reviews:write')
  const rid = opened.json().id

  isProblem(
    t,
    await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 }, readOnly),
    403,
    'insufficient-scope',
    'PUT response with agreements:read'
  )
  t.equal(
    (await ctx.request({ method: 'GET', url: r.reviewUrl(pid, aid, rid), token: readOnly })).json().responses.length,
    0,
    'agreements:read reads; nothing was recorded'
  )
  const answered = await r.answer(alice, pid, aid, rid, { outcome: 'keep', rating: 4 }, writer)
  t.equal(answered.statusCode, 200, 'PUT response with reviews:write')
  t.equal(answered.json().responses.length, 1)
  isProblem(
    t,
    await ctx.request({ method: 'GET', url: r.reviewUrl(pid, aid, rid), token: writer }),
    403,
    'insufficient-scope',
    'reading needs agreements:read'
  )
})

t.test('GET /v1/me/reviews lists the open reviews of every partnership the caller is still in', async (t) => {
  const alice = await k.person('Alice')
  const carol = await k.person('Carol')
  const dan = await k.person('Dan')
  const erin = await k.person('Erin')
  const frank = await k.person('Frank')
  const gina = await k.person('Gina')
  const p1 = await r.partnership('Europe/Paris', alice, [carol])
  const p2 = await r.partnership('America/New_York', carol, [dan, erin])
  const p3 = await r.partnership('Asia/Tokyo', frank, [carol, gina])
  const a1 = await k.activeAgreement(alice, [carol], p1, weekly('One'))
  const a1b = await k.activeAgreement(alice, [carol], p1, weekly('One bis'))
  const a2 = await k.activeAgreement(dan, [carol, erin], p2, weekly('Two'))
  const a3 = await k.activeAgreement(gina, [carol, frank], p3, weekly('Three'))

  const r1 = (await r.openEarly(alice, p1, a1)).json().id
  const r1b = (await r.openEarly(carol, p1, a1b)).json().id
  const r2 = (await r.openEarly(erin, p2, a2)).json().id
  const r3 = (await r.openEarly(frank, p3, a3)).json().id
  // r1b completes: it is no longer listed.
  await r.answer(alice, p1, a1b, r1b, { outcome: 'keep', rating: 5 })
  await r.answer(carol, p1, a1b, r1b, { outcome: 'keep', rating: 5 })

  const mine = async (who: Person, query = '?status=open'): Promise<any[]> =>
    k
      .expectStatus(
        await ctx.request({ method: 'GET', url: `/v1/me/reviews${query}`, token: who.token }),
        200,
        'GET /v1/me/reviews'
      )
      .json().items
  t.same(sorted((await mine(carol)).map((x) => x.id)), sorted([r1, r2, r3]), 'open reviews across three partnerships')
  t.same(sorted((await mine(carol, '')).map((x) => x.id)), sorted([r1, r2, r3]), 'status=open is the default')

  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `/v1/partnerships/${p3}/members/me`, token: carol.token }),
    204,
    'leave'
  )
  const listed = await mine(carol)
  t.same(sorted(listed.map((x) => x.id)), sorted([r1, r2]), 'none of the partnership Carol left')
  t.match(
    listed.find((x) => x.id === r2),
    { agreementId: a2, status: 'open', trigger: 'early' }
  )
  t.same(
    (await mine(frank)).map((x) => x.id),
    [r3],
    'the others still see theirs'
  )
  t.same(
    (await mine(alice)).map((x) => x.id),
    [r1]
  )

  // Pagination walks the same set.
  const first = k
    .expectStatus(
      await ctx.request({ method: 'GET', url: '/v1/me/reviews?status=open&limit=1', token: carol.token }),
      200,
      'page 1'
    )
    .json()
  t.equal(first.items.length, 1)
  t.type(first.nextCursor, 'string')
  const second = k
    .expectStatus(
      await ctx.request({
        method: 'GET',
        url: `/v1/me/reviews?status=open&limit=1&cursor=${first.nextCursor}`,
        token: carol.token
      }),
      200,
      'page 2'
    )
    .json()
  t.same(sorted([...first.items, ...second.items].map((x: { id: string }) => x.id)), sorted([r1, r2]))
  isInvalid(
    t,
    await ctx.request({ method: 'GET', url: '/v1/me/reviews?status=completed', token: carol.token }),
    '/status',
    'status=completed'
  )
})

t.test('the audit log records each review step once, and the chain verifies', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Audited'))

  // Scheduled.
  const start = await k.headSeq(alice, pid)
  const { review: scheduled, due } = await r.scheduledReview(alice, pid, aid, people)
  t.equal((await runDueWork(ctx.deps)).opened, 0, 'a second run opens nothing')
  let events = await k.eventsAfter(alice, pid, start)
  t.same(
    events.map((e) => e.type),
    ['review.opened']
  )
  t.match(events[0], {
    actorId: null,
    subject: { type: 'review', id: scheduled.id },
    data: { agreementId: aid, trigger: 'schedule', versionNumber: 1, dueAt: due.toISOString() }
  })

  let seq = await k.headSeq(alice, pid)
  await r.answer(alice, pid, aid, scheduled.id, { outcome: 'keep', rating: 4 })
  events = await k.eventsAfter(alice, pid, seq)
  t.same(
    events.map((e) => e.type),
    ['review.responded']
  )
  t.match(events[0], {
    actorId: alice.id,
    subject: { type: 'review', id: scheduled.id },
    data: { agreementId: aid, outcome: 'keep', rating: 4 }
  })

  seq = await k.headSeq(alice, pid)
  await r.answer(bob, pid, aid, scheduled.id, { outcome: 'keep', rating: 5 })
  events = await k.eventsAfter(alice, pid, seq)
  t.same(
    events.map((e) => e.type),
    ['review.responded', 'review.completed']
  )
  t.match(events[1], {
    actorId: bob.id,
    subject: { type: 'review', id: scheduled.id },
    data: { agreementId: aid, outcome: 'keep' }
  })

  // Early.
  seq = await k.headSeq(alice, pid)
  const early = (await r.openEarly(bob, pid, aid)).json()
  await r.answer(alice, pid, aid, early.id, { outcome: 'keep', rating: 3 })
  await r.answer(bob, pid, aid, early.id, { outcome: 'revise', rating: 2 })
  events = await k.eventsAfter(alice, pid, seq)
  t.same(
    events.map((e) => e.type),
    ['review.opened', 'review.responded', 'review.responded', 'review.completed']
  )
  t.match(events[0], {
    actorId: bob.id,
    subject: { type: 'review', id: early.id },
    data: { agreementId: aid, trigger: 'early' }
  })
  t.match(events[3], { data: { outcome: 'revise' } })

  const all = await k.eventsAfter(alice, pid, start)
  const count = (type: string, id: string): number => all.filter((e) => e.type === type && e.subject.id === id).length
  for (const id of [scheduled.id, early.id]) {
    t.equal(count('review.opened', id), 1, `review.opened once for ${id}`)
    t.equal(count('review.completed', id), 1, `review.completed once for ${id}`)
    t.equal(count('review.responded', id), 2, `review.responded once per answer for ${id}`)
  }
  const verified = await k.verify(alice, pid)
  t.ok(verified.valid, 'the chain verifies')
  t.equal(verified.head?.seq, all.length + start)
})

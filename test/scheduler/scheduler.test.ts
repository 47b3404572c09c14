import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { agreements, agreementVersions } from '../../src/agreements/agreement.sql.ts'
import { nextOccurrence } from '../../src/agreements/cadence.rules.ts'
import { TermsContentSchema } from '../../src/agreements/content.schemas.ts'
import { contentHashOf } from '../../src/agreements/version.rules.ts'
import { newId } from '../../src/db/columns.ts'
import { type DueWorkResult, runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp, freshPostgresUrl, onPostgres, type TestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const WEEK = 7 * DAY

/** One fresh app (and database) per sub-test: the clock only moves forward, and counts must be exact. */
async function setup(t: Test) {
  const ctx = await buildTestApp(t)
  const k = agreementKit(ctx)
  return { ctx, k, r: reviewKit(ctx, k) }
}

const count = async (ctx: TestApp, query: ReturnType<typeof sql>): Promise<number> =>
  (await ctx.database.rows<{ n: number }>(query))[0]!.n

/** A yearly cadence on the first day of a month about six months away: never due during these tests. */
function farAway(title: string): Record<string, unknown> {
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1
  return content({ title, review: { rrule: `FREQ=YEARLY;BYMONTH=${month};BYMONTHDAY=1`, time: '19:00' } })
}

t.test('a due review opens once, with one review.opened event', async (t) => {
  const { ctx, k, r } = await setup(t)
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Due'))
  const later = await k.activeAgreement(alice, [bob], pid, farAway('Later'))
  const proposed = (await k.create(alice, pid, { content: weekly('Proposed') })).id
  const suspended = await k.activeAgreement(alice, [bob], pid, weekly('Suspended'))
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, suspended, 1)}/signatures/me`, token: bob.token }),
    204,
    'revoke consent'
  )

  const due = new Date((await k.agreement(alice, pid, aid)).body.nextReviewAt)
  t.ok(due.getTime() > ctx.clock.now().getTime(), 'activation set a future review date')
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 }, 'nothing is due yet')

  // A minute before: still nothing.
  await r.advancePast(due, people, -MINUTE)
  t.equal((await runDueWork(ctx.deps)).opened, 0, 'not before the date')

  await r.advancePast(due, people)
  const start = Date.now()
  t.same(await runDueWork(ctx.deps), { opened: 1, overdue: 0, purged: 0 }, 'the date passed: one review opens')
  t.comment(`runDueWork opened 1 review in ${Date.now() - start} ms`)
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 }, 'a second run opens nothing')
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 }, 'nor a third')

  const reviews = await r.listReviews(alice, pid, aid)
  t.equal(reviews.length, 1)
  t.match(reviews[0], {
    trigger: 'schedule',
    status: 'open',
    dueAt: due.toISOString(),
    versionNumber: 1,
    overdue: false,
    outcome: null
  })
  for (const other of [later, proposed, suspended])
    t.same(await r.listReviews(alice, pid, other), [], 'agreements not due (or not active) get no review')

  const opened = (await k.eventsAfter(alice, pid, 0)).filter((e) => e.type === 'review.opened')
  t.equal(opened.length, 1, 'review.opened exactly once')
  t.match(opened[0], {
    actorId: null,
    subject: { type: 'review', id: reviews[0].id },
    data: { agreementId: aid, trigger: 'schedule', dueAt: due.toISOString() }
  })
  t.equal(
    await count(
      ctx,
      sql`select count(*)::int as n from events where type = 'review.opened' and data->>'agreementId' = ${aid}`
    ),
    1,
    'once in the table too'
  )
  t.equal(await count(ctx, sql`select count(*)::int as n from reviews where agreement_id = ${aid}`), 1)
  t.ok((await k.verify(alice, pid)).valid, 'the chain verifies')
})

t.test('an open review becomes overdue 7 days after its due date, once', async (t) => {
  const { ctx, k, r } = await setup(t)
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  const pid = await r.partnership('America/New_York', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Slow'))
  const early = await k.activeAgreement(alice, [bob], pid, farAway('Early'))
  const answered = await k.activeAgreement(alice, [bob], pid, farAway('Answered'))

  const { review, due } = await r.scheduledReview(alice, pid, aid, people)
  // Another review, answered at once, is never overdue.
  const done = (await r.openEarly(alice, pid, answered)).json().id
  await r.answer(alice, pid, answered, done, { outcome: 'keep', rating: 4 })
  t.equal((await r.answer(bob, pid, answered, done, { outcome: 'keep', rating: 4 })).json().status, 'completed')
  // An early review opened three days later.
  await r.advancePast(new Date(due.getTime() + 3 * DAY), people)
  const earlyReview = (await r.openEarly(bob, pid, early)).json()

  await r.advancePast(new Date(due.getTime() + WEEK), people, -2 * MINUTE)
  t.equal((await runDueWork(ctx.deps)).overdue, 0, 'not before dueAt + 7 days')
  t.equal((await r.getReview(alice, pid, aid, review.id)).overdue, false)

  await r.advancePast(new Date(due.getTime() + WEEK), people)
  const before = await k.headSeq(alice, pid)
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 1, purged: 0 }, 'past dueAt + 7 days: overdue')
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 }, 'once')
  const events = await k.eventsAfter(alice, pid, before)
  t.same(
    events.map((e) => e.type),
    ['review.overdue']
  )
  t.match(events[0], {
    actorId: null,
    subject: { type: 'review', id: review.id },
    data: { agreementId: aid, dueAt: due.toISOString() }
  })
  t.match(await r.getReview(alice, pid, aid, review.id), { status: 'open', overdue: true })
  t.equal(
    (await r.getReview(alice, pid, early, earlyReview.id)).overdue,
    false,
    'the later early review is not overdue yet'
  )

  // Ten days later only the early review joins it; the first is not marked twice, the answered one never.
  await r.advancePast(new Date(Date.parse(earlyReview.dueAt) + WEEK), people)
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 1, purged: 0 })
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 })
  const overdue = (await k.eventsAfter(alice, pid, 0)).filter((e) => e.type === 'review.overdue')
  t.same(
    overdue.map((e) => e.subject.id).sort(),
    [review.id, earlyReview.id].sort(),
    'review.overdue exactly once per review'
  )
  t.equal(await count(ctx, sql`select count(*)::int as n from events where type = 'review.overdue'`), 2)
  t.equal((await r.getReview(alice, pid, answered, done)).overdue, false, 'a completed review is never overdue')

  // An overdue review can still be answered.
  await r.answer(alice, pid, aid, review.id, { outcome: 'keep', rating: 3 })
  t.match((await r.answer(bob, pid, aid, review.id, { outcome: 'keep', rating: 3 })).json(), {
    status: 'completed',
    overdue: true
  })
  t.ok((await k.verify(alice, pid)).valid, 'the chain verifies')
})

t.test('catch-up after downtime: five missed weeks open one review, due at the stored date', async (t) => {
  const { ctx, k, r } = await setup(t)
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const people = [alice, bob]
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Weekly'))
  const stored = new Date((await k.agreement(alice, pid, aid)).body.nextReviewAt)

  await r.advancePast(new Date(stored.getTime() + 5 * WEEK), people)
  t.same(await runDueWork(ctx.deps), { opened: 1, overdue: 1, purged: 0 }, 'one review (not five), already overdue')
  t.same(await runDueWork(ctx.deps), { opened: 0, overdue: 0, purged: 0 }, 'and nothing more')
  const reviews = await r.listReviews(alice, pid, aid)
  t.equal(reviews.length, 1)
  t.match(reviews[0], { trigger: 'schedule', status: 'open', overdue: true })
  t.equal(reviews[0].dueAt, stored.toISOString(), 'due at the stored nextReviewAt')
  t.equal(await count(ctx, sql`select count(*)::int as n from reviews where agreement_id = ${aid}`), 1)
  t.equal(
    await count(
      ctx,
      sql`select count(*)::int as n from events where type = 'review.opened' and data->>'agreementId' = ${aid}`
    ),
    1
  )

  // Answering it moves the date to the next occurrence in the future.
  await r.answer(alice, pid, aid, reviews[0].id, { outcome: 'keep', rating: 4 })
  await r.answer(bob, pid, aid, reviews[0].id, { outcome: 'keep', rating: 4 })
  const next = new Date((await k.agreement(alice, pid, aid)).body.nextReviewAt)
  const now = ctx.clock.now().getTime()
  t.ok(
    next.getTime() > now && next.getTime() - now <= WEEK,
    `the next date ${next.toISOString()} is the first one after now`
  )
  t.equal((await runDueWork(ctx.deps)).opened, 0, 'nothing is due after catching up')
})

t.test("a dissolved partnership's open review is closed: never listed, never overdue", async (t) => {
  const { ctx, k, r } = await setup(t)
  const dora = await k.person('Dora')
  const eli = await k.person('Eli')
  const pid = await r.partnership('Europe/Paris', dora, [eli])
  const aid = await k.activeAgreement(dora, [eli], pid, weekly('Ending'))
  const rid = (await r.openEarly(dora, pid, aid)).json().id
  await k.leave(eli, pid)
  t.equal((await k.agreement(dora, pid, aid)).body.status, 'ended', 'the agreement ended with the partnership')

  t.not((await r.getReview(dora, pid, aid, rid)).status, 'open', 'the review is closed with its agreement')
  const mine = k
    .expectStatus(
      await ctx.request({ method: 'GET', url: '/v1/me/reviews', token: dora.token }),
      200,
      'GET /v1/me/reviews'
    )
    .json().items
  t.same(mine, [], 'not listed among open reviews')

  await r.advancePast(new Date(ctx.clock.now().getTime() + WEEK), [dora], HOUR)
  const result = await runDueWork(ctx.deps)
  t.equal(result.opened, 0, 'no review opens for an ended agreement')
  t.equal(result.overdue, 0, 'nothing becomes overdue')
  const types = (await k.eventsAfter(dora, pid, 0)).map((e) => e.type)
  t.equal(
    types.at(-1),
    'partnership.dissolved',
    `nothing is appended to the dissolved partnership's log (got ${types.slice(-2).join(', ')})`
  )
  t.ok((await k.verify(dora, pid)).valid, 'the chain verifies')
})

t.test('expired idempotency keys are purged', async (t) => {
  const { ctx, k } = await setup(t)
  const alice = await k.person('Alice')
  const post = () =>
    ctx.request({
      method: 'POST',
      url: '/v1/partnerships',
      token: alice.token,
      headers: { 'idempotency-key': 'purge-me-1' },
      body: { name: 'Keyed', timezone: 'Europe/Paris' }
    })
  const first = await post()
  t.equal(first.statusCode, 201)
  t.equal((await post()).json().id, first.json().id, 'the key replays')
  const keys = sql`select count(*)::int as n from idempotency_keys`
  t.equal(await count(ctx, keys), 1)
  t.equal((await runDueWork(ctx.deps)).purged, 0, 'not before it expires')

  ctx.clock.advance(25 * HOUR)
  const result = await runDueWork(ctx.deps)
  t.ok(result.purged >= 1, `purged ${result.purged}`)
  t.equal(await count(ctx, keys), 0, 'the row is gone')
  t.equal((await runDueWork(ctx.deps)).purged, 0, 'nothing left to purge')
  await k.refresh([alice])
  t.not((await post()).json().id, first.json().id, 'the key is free again: a new partnership')
})

t.test(
  'three instances on one PostgreSQL open each of 1,000 due reviews exactly once',
  {
    skip: onPostgres
      ? false
      : 'PostgreSQL only: PGlite is one in-process connection, so several instances cannot share it'
  },
  async (t) => {
    const url = await freshPostgresUrl(t)
    const instances: TestApp[] = []
    for (let i = 0; i < 3; i++)
      instances.push(await buildTestApp(t, { databaseUrl: url, env: { DATABASE_POOL_MAX: '10' } }))
    const [ctx] = instances as [TestApp, ...TestApp[]]
    const k = agreementKit(ctx)
    const r = reviewKit(ctx, k)

    // 20 couples, each with 10 weekly agreements proposed and signed through the API (couples in parallel) and
    // 40 more inserted directly (active, version 1 active with its real content hash, a next review date):
    // the API alone would spend most of the test's time budget seeding.
    const COUPLES = 20
    const BY_API = 10
    const BY_SQL = 40
    const N = COUPLES * (BY_API + BY_SQL)
    const seedStart = Date.now()
    const couples = await Promise.all(
      Array.from({ length: COUPLES }, async (_, i) => {
        const a = await k.person(`A${i}`)
        const b = await k.person(`B${i}`)
        const timezone = i % 2 === 0 ? 'Europe/Paris' : 'America/New_York'
        const pid = await r.partnership(timezone, a, [b])
        for (let j = 0; j < BY_API; j++) {
          const created = await k.create(a, pid, {
            content: weekly(`Agreement ${i}.${j}`, `${String(8 + j).padStart(2, '0')}:30`)
          })
          k.expectStatus(
            await ctx.request({
              method: 'POST',
              url: `${k.versionUrl(pid, created.id, 1)}/signatures`,
              token: b.token,
              body: { contentHash: created.proposal.contentHash }
            }),
            201,
            'sign'
          )
        }
        return { pid, a, b, timezone }
      })
    )
    const apiMs = Date.now() - seedStart
    const at = ctx.clock.now()
    const rows: Array<{ agreement: typeof agreements.$inferInsert; version: typeof agreementVersions.$inferInsert }> =
      []
    for (const [i, { pid, a, b, timezone }] of couples.entries()) {
      for (let j = 0; j < BY_SQL; j++) {
        const id = newId()
        const body = TermsContentSchema.parse(
          weekly(`Seeded ${i}.${j}`, `${String(j % 24).padStart(2, '0')}:${j % 2 === 0 ? '00' : '45'}`)
        )
        rows.push({
          agreement: {
            id,
            partnershipId: pid,
            title: body.title,
            category: body.category,
            lifecycle: 'active',
            activeVersion: 1,
            lastVersionNumber: 1,
            everProposed: true,
            nextReviewAt: nextOccurrence(body.review, timezone, at, at),
            createdBy: a.id,
            createdAt: at,
            updatedAt: at
          },
          version: {
            id: newId(),
            agreementId: id,
            number: 1,
            kind: 'terms',
            status: 'active',
            content: body,
            contentHash: contentHashOf({
              agreementId: id,
              number: 1,
              kind: 'terms',
              previousHash: null,
              content: body
            }),
            previousHash: null,
            authorId: a.id,
            requiredSigners: [a.id, b.id],
            createdAt: at,
            proposedAt: at,
            activatedAt: at
          }
        })
      }
    }
    await ctx.deps.db.transaction(async (tx) => {
      await tx.insert(agreements).values(rows.map((x) => x.agreement))
      await tx.insert(agreementVersions).values(rows.map((x) => x.version))
    })
    t.comment(
      `seeded ${COUPLES * BY_API} agreements through the API in ${apiMs} ms and ${rows.length} by SQL in ${Date.now() - seedStart - apiMs} ms`
    )
    const seeded = (await k.agreement(couples[0]!.a, couples[0]!.pid, rows[0]!.agreement.id!)).body
    t.match(
      seeded,
      { status: 'active', activeVersion: 1, active: { number: 1, status: 'active' } },
      'a seeded agreement reads like any other'
    )

    // Every clock moves identically, past every weekly date.
    for (const instance of instances) instance.clock.advance(8 * DAY)
    const now = ctx.clock.now()
    const due = await count(
      ctx,
      sql`select count(*)::int as n from agreements where lifecycle = 'active' and next_review_at <= ${now.toISOString()}::timestamptz`
    )
    t.equal(due, N, `${N} agreements are due`)

    const runStart = Date.now()
    const rounds: DueWorkResult[][] = []
    let failure: unknown = null
    for (let round = 0; round < 3; round++) {
      try {
        rounds.push(await Promise.all(instances.map((instance) => runDueWork(instance.deps))))
      } catch (err) {
        failure = err
        break
      }
    }
    const runMs = Date.now() - runStart
    t.equal(failure, null, 'no instance threw')
    const opened = rounds.map((results) => results.map((x) => x.opened))
    const total = opened.flat().reduce((s, n) => s + n, 0)
    t.comment(
      `opened per round and instance: ${JSON.stringify(opened)}; ${total} in ${runMs} ms over ${rounds.length} concurrent rounds`
    )
    t.equal(total, N, 'the instances together opened exactly one review per due agreement')
    t.same(
      rounds.at(-1)?.map((x) => x.opened),
      [0, 0, 0],
      'the last round found nothing left'
    )

    t.equal(await count(ctx, sql`select count(*)::int as n from reviews`), N, `${N} reviews`)
    t.equal(await count(ctx, sql`select count(distinct agreement_id)::int as n from reviews`), N, 'one per agreement')
    t.equal(
      await count(
        ctx,
        sql`select count(*)::int as n from agreements a where a.lifecycle = 'active' and (select count(*) from reviews r where r.agreement_id = a.id) <> 1`
      ),
      0,
      'every agreement has exactly one review'
    )
    t.equal(
      await count(
        ctx,
        sql`select count(*)::int as n from reviews r join agreements a on a.id = r.agreement_id where r.due_at <> a.next_review_at or r.trigger <> 'schedule' or r.status <> 'open'`
      ),
      0,
      'each is a scheduled open review due at the stored date'
    )
    t.equal(
      await count(ctx, sql`select count(*)::int as n from events where type = 'review.opened'`),
      N,
      `${N} review.opened events`
    )
    t.equal(
      await count(
        ctx,
        sql`select count(distinct data->>'agreementId')::int as n from events where type = 'review.opened' and data->>'trigger' = 'schedule'`
      ),
      N,
      'one per agreement'
    )

    // Every chain still verifies (and its seq is gapless) after the concurrent appends.
    for (const { pid, a } of couples) {
      await k.refresh([a])
      const verified = await k.verify(a, pid)
      t.ok(verified.valid, `the chain of ${pid} verifies`)
    }
    t.equal(
      await count(
        ctx,
        sql`select count(*)::int as n from (select partnership_id, max(seq) as m, count(*) as c from events group by partnership_id) x where m <> c`
      ),
      0,
      'seq is gapless in every partnership'
    )
  }
)

import t from 'tap'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { weekly } from '../helpers/reviews.ts'

// Each list of GET …/{pid}/agenda holds at most 100 items (the route's description says so), in a stated order:
// reviews soonest first, proposals oldest first, incidents as reported, agreements by id; each agreement shows
// its 20 latest incidents and appreciations, newest first, with their full counts.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const LIMIT = 100
const MORE = LIMIT + 1
const CLAUSE = 'no-hidden-chats'

async function at(iso: string, people: Person[]): Promise<void> {
  ctx.clock.advance(Date.parse(iso) - ctx.clock.now().getTime())
  await k.refresh(people)
}

t.test('every list is bounded at 100, in its order', async (t) => {
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  await at('2030-06-03T08:00:00Z', [alice, bob]) // 10:00 in Paris: every weekly review falls at 19:00 today
  const { pid } = await k.partnership(alice, [bob], [], { timezone: 'Europe/Paris' })
  const url = (aid: string): string => k.agreementUrl(pid, aid)
  const getAgenda = async (who: Person): Promise<any> =>
    k
      .expectStatus(
        await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agenda`, token: who.token }),
        200,
        'agenda'
      )
      .json()

  /** Alice proposes, Bob signs (with the hash the proposal showed): an active agreement. */
  async function active(title: string): Promise<string> {
    const created = await k.create(alice, pid, { content: weekly(title) })
    k.expectStatus(
      await ctx.request({
        method: 'POST',
        url: `${k.versionUrl(pid, created.id, 1)}/signatures`,
        token: bob.token,
        body: { contentHash: created.proposal.contentHash }
      }),
      201,
      'sign'
    )
    return created.id
  }

  // Diary: 101 unresolved incidents, reported in turn, each said to have occurred a second before the one
  // reported before it (report order and occurrence order are opposite); and 21 appreciations.
  const diary = await active('Diary')
  ctx.clock.advance(10 * 60_000)
  const base = ctx.clock.now().getTime()
  const incidents: Array<{ id: string; occurredAt: string }> = []
  for (let i = 0; i < MORE; i++) {
    const res = await ctx.request({
      method: 'POST',
      url: `${url(diary)}/incidents`,
      token: bob.token,
      body: {
        clauseKey: CLAUSE,
        subjectId: alice.id,
        occurredAt: new Date(base - i * 1000).toISOString(),
        description: `Number ${i}.`
      }
    })
    incidents.push(k.expectStatus(res, 201, 'report').json())
  }
  const thanks: Array<{ id: string; createdAt: string }> = []
  for (let i = 0; i < 21; i++) {
    ctx.clock.advance(1000)
    const res = await ctx.request({
      method: 'POST',
      url: `${url(diary)}/appreciations`,
      token: bob.token,
      body: { text: `Thanks ${i}.` }
    })
    thanks.push(k.expectStatus(res, 201, 'appreciate').json())
  }

  // 101 more active agreements, each due at 19:00 today; the first has a review open (due now).
  const rules: string[] = []
  for (let i = 0; i < MORE; i++) rules.push(await active(`Rule ${i}`))
  const opened = await ctx.request({ method: 'POST', url: `${url(rules[0]!)}/reviews`, token: bob.token })
  const review = k.expectStatus(opened, 201, 'open early').json()
  // 101 proposals by Bob, waiting for Alice.
  const proposals: string[] = []
  for (let i = 0; i < MORE; i++) proposals.push((await k.create(bob, pid, { content: weekly(`Idea ${i}`) })).id)

  const due = (await k.agreement(alice, pid, diary)).body.nextReviewAt
  t.equal(due, '2030-06-03T17:00:00.000Z', 'the weekly reviews fall at 19:00 in Paris today')
  const byId = (ids: string[]): string[] => [...ids].sort()
  const upcoming = byId([diary, ...rules.slice(1)]) // every active agreement without an open review, all due alike

  const mine = await getAgenda(alice)
  t.equal(mine.reviews.length, LIMIT, `reviews: ${LIMIT} of ${1 + upcoming.length}`)
  t.match(mine.reviews[0], { status: 'open', reviewId: review.id, agreementId: rules[0], dueAt: review.dueAt })
  t.same(
    mine.reviews.slice(1).map((r: any) => [r.status, r.agreementId, r.dueAt]),
    upcoming.slice(0, LIMIT - 1).map((aid) => ['upcoming', aid, due]),
    'then the upcoming ones, soonest first (and by agreement among those due at the same time)'
  )
  t.equal(mine.proposals.length, LIMIT, `proposals: ${LIMIT} of ${MORE}`)
  t.same(
    mine.proposals.map((p: any) => p.agreementId),
    proposals.slice(0, LIMIT),
    'the oldest first: the last one proposed is left out'
  )
  t.equal(mine.incidents.length, LIMIT, `incidents: ${LIMIT} of ${MORE}`)
  t.same(
    mine.incidents.map((i: any) => i.id),
    incidents.slice(0, LIMIT).map((i) => i.id),
    'in the order they were reported (not the order they occurred in)'
  )
  t.ok(
    mine.incidents.every((i: any) => i.awaitingYourAnswer),
    'each waits for Alice, its subject'
  )
  t.equal(mine.sinceLastReview.length, LIMIT, `agreements since their last review: ${LIMIT} of ${2 + LIMIT}`)
  t.same(
    mine.sinceLastReview.map((g: any) => g.agreementId),
    byId([diary, ...rules]).slice(0, LIMIT),
    'by agreement'
  )
  const d = mine.sinceLastReview.find((g: any) => g.agreementId === diary)
  t.match(d, { since: null, incidentCount: MORE, appreciationCount: 21 }, 'the counts are complete')
  t.same(
    d.incidents.map((i: any) => [i.id, i.occurredAt]),
    incidents.slice(0, 20).map((i) => [i.id, i.occurredAt]),
    'the 20 that occurred last, latest first'
  )
  t.same(
    d.appreciations.map((a: any) => [a.id, a.createdAt]),
    thanks
      .slice(1)
      .reverse()
      .map((a) => [a.id, a.createdAt]),
    'the 20 latest appreciations, latest first'
  )
  const bobs = await getAgenda(bob)
  t.same(bobs.proposals, [], 'Bob signed every proposal he made')
  t.equal(bobs.reviews.length, LIMIT)
  t.notOk(
    bobs.incidents.some((i: any) => i.awaitingYourAnswer),
    'none waits for Bob'
  )

  // Bob withdraws his consent from all 101 rules: 101 suspended agreements.
  for (const aid of rules)
    k.expectStatus(
      await ctx.request({ method: 'DELETE', url: `${k.versionUrl(pid, aid, 1)}/signatures/me`, token: bob.token }),
      204,
      'revoke'
    )
  const later = await getAgenda(alice)
  t.equal(later.suspended.length, LIMIT, `suspended: ${LIMIT} of ${MORE}`)
  t.same(
    later.suspended.map((s: any) => s.agreementId),
    byId(rules).slice(0, LIMIT),
    'by agreement'
  )
  t.same(
    later.reviews.map((r: any) => [r.status, r.agreementId]),
    [
      ['open', rules[0]],
      ['upcoming', diary]
    ],
    'the open review stays; the suspended ones are no longer coming due'
  )
  t.equal(later.sinceLastReview.length, LIMIT, 'suspended agreements are still among those since their last review')
})
